/**
 * Tables drawn with borders, found from a PDF page's drawing operations: word processors draw a
 * table's borders as thin lines or thin filled boxes, and their positions give the rows and
 * columns, even where cells wrap onto several lines or are centred vertically.
 */

/** pdf.js operator codes this file reads (`OPS` of pdf.js), passed in so they come from the loaded build. */
export interface PathOps {
  save: number;
  restore: number;
  transform: number;
  constructPath: number;
  paintFormXObjectBegin: number;
  paintFormXObjectEnd: number;
  endPath: number;
  stroke: number;
  closeStroke: number;
}

/** A page's operator list as pdf.js returns it. */
export interface OperatorList { fnArray: ArrayLike<number>; argsArray: ArrayLike<unknown> }

/** A ruled table: row boundaries top to bottom, column boundaries left to right (page space). */
export interface RuledGrid { rows: number[]; columns: number[] }

type Matrix = [number, number, number, number, number, number];
interface Segment { horizontal: boolean; at: number; from: number; to: number }

// pdf.js path data codes (its DrawOPS): moveTo x y, lineTo x y, curveTo 6 numbers, quadraticCurveTo 4, closePath.
const MOVE_TO = 0;
const LINE_TO = 1;
const CURVE_TO = 2;
const QUADRATIC_CURVE_TO = 3;
const CLOSE_PATH = 4;

// A border is at most this thick (points), and at least this long.
const MAX_RULE_THICKNESS = 2.5;
const MIN_RULE_LENGTH = 6;
// Lines closer than this (points) touch, or are the same line drawn twice.
const TOUCH = 2.5;
// Beyond this many segments a page is a drawing, not a table layout: not worth the quadratic grouping.
const MAX_SEGMENTS = 3000;

const IDENTITY: Matrix = [1, 0, 0, 1, 0, 0];

function multiply(m: Matrix, n: Matrix): Matrix {
  // m applied after n: the PDF `cm` operator concatenates n onto the current matrix m.
  return [
    n[0] * m[0] + n[1] * m[2],
    n[0] * m[1] + n[1] * m[3],
    n[2] * m[0] + n[3] * m[2],
    n[2] * m[1] + n[3] * m[3],
    n[4] * m[0] + n[5] * m[2] + m[4],
    n[4] * m[1] + n[5] * m[3] + m[5],
  ];
}

function apply(m: Matrix, x: number, y: number): [number, number] {
  return [m[0] * x + m[2] * y + m[4], m[1] * x + m[3] * y + m[5]];
}

function asMatrix(value: unknown): Matrix | undefined {
  if (value === null || typeof value !== 'object' || !('length' in value)) return undefined;
  const numbers = Array.from(value as ArrayLike<unknown>);
  return numbers.length === 6 && numbers.every((n) => typeof n === 'number') ? (numbers as Matrix) : undefined;
}

/** Horizontal and vertical border segments a page draws, in page space. */
function segments(list: OperatorList, ops: PathOps): Segment[] {
  const found: Segment[] = [];
  const stack: Matrix[] = [];
  let ctm: Matrix = IDENTITY;
  const add = (x0: number, y0: number, x1: number, y1: number) => {
    const [ax, ay] = apply(ctm, x0, y0);
    const [bx, by] = apply(ctm, x1, y1);
    const width = Math.abs(bx - ax);
    const height = Math.abs(by - ay);
    if (height <= MAX_RULE_THICKNESS && width >= MIN_RULE_LENGTH) found.push({ horizontal: true, at: (ay + by) / 2, from: Math.min(ax, bx), to: Math.max(ax, bx) });
    else if (width <= MAX_RULE_THICKNESS && height >= MIN_RULE_LENGTH) found.push({ horizontal: false, at: (ax + bx) / 2, from: Math.min(ay, by), to: Math.max(ay, by) });
  };

  for (let i = 0; i < list.fnArray.length && found.length <= MAX_SEGMENTS; i += 1) {
    const fn = list.fnArray[i];
    const args = list.argsArray[i] as unknown[] | null;
    if (fn === ops.save) stack.push(ctm);
    else if (fn === ops.restore) ctm = stack.pop() ?? IDENTITY;
    else if (fn === ops.transform) ctm = multiply(ctm, asMatrix(args) ?? IDENTITY);
    else if (fn === ops.paintFormXObjectBegin) {
      stack.push(ctm);
      ctm = multiply(ctm, asMatrix(args?.[0]) ?? IDENTITY);
    } else if (fn === ops.paintFormXObjectEnd) ctm = stack.pop() ?? IDENTITY;
    else if (fn === ops.constructPath && args !== null) {
      const paint = args[0];
      const data = (args[1] as unknown[] | undefined)?.[0] as ArrayLike<number> | null | undefined;
      // endPath only sets a clipping area; nothing is drawn.
      if (paint === ops.endPath || data === null || data === undefined) continue;
      readPath(data, paint === ops.stroke || paint === ops.closeStroke, add);
    }
  }
  return found;
}

/**
 * Walk path data: stroked lines are borders themselves; a filled shape is a border when its box
 * is thin (a 0.5 pt high rectangle is how many producers draw a rule).
 */
function readPath(data: ArrayLike<number>, stroked: boolean, add: (x0: number, y0: number, x1: number, y1: number) => void): void {
  let x = 0;
  let y = 0;
  let startX = 0;
  let startY = 0;
  let box: [number, number, number, number] | undefined;
  const extend = (px: number, py: number) => {
    box = box === undefined ? [px, py, px, py] : [Math.min(box[0], px), Math.min(box[1], py), Math.max(box[2], px), Math.max(box[3], py)];
  };
  const closeShape = () => {
    if (!stroked && box !== undefined) {
      const [x0, y0, x1, y1] = box;
      // A thin box becomes the line through its middle.
      if (y1 - y0 <= MAX_RULE_THICKNESS) add(x0, (y0 + y1) / 2, x1, (y0 + y1) / 2);
      else if (x1 - x0 <= MAX_RULE_THICKNESS) add((x0 + x1) / 2, y0, (x0 + x1) / 2, y1);
    }
    box = undefined;
  };
  for (let i = 0; i < data.length; ) {
    const op = data[i];
    if (op === MOVE_TO) {
      closeShape();
      x = startX = data[i + 1] ?? 0;
      y = startY = data[i + 2] ?? 0;
      extend(x, y);
      i += 3;
    } else if (op === LINE_TO) {
      const nx = data[i + 1] ?? 0;
      const ny = data[i + 2] ?? 0;
      if (stroked) add(x, y, nx, ny);
      x = nx;
      y = ny;
      extend(x, y);
      i += 3;
    } else if (op === CURVE_TO) {
      x = data[i + 5] ?? 0;
      y = data[i + 6] ?? 0;
      extend(x, y);
      i += 7;
    } else if (op === QUADRATIC_CURVE_TO) {
      x = data[i + 3] ?? 0;
      y = data[i + 4] ?? 0;
      extend(x, y);
      i += 5;
    } else if (op === CLOSE_PATH) {
      if (stroked) add(x, y, startX, startY);
      x = startX;
      y = startY;
      i += 1;
    } else break; // Unknown data: stop reading this path rather than misread it.
  }
  closeShape();
}

function touches(a: Segment, b: Segment): boolean {
  if (a.horizontal === b.horizontal) {
    return Math.abs(a.at - b.at) <= TOUCH && a.from <= b.to + TOUCH && b.from <= a.to + TOUCH;
  }
  const [h, v] = a.horizontal ? [a, b] : [b, a];
  return v.at >= h.from - TOUCH && v.at <= h.to + TOUCH && h.at >= v.from - TOUCH && h.at <= v.to + TOUCH;
}

/** Positions that differ by less than TOUCH are one line. */
function distinct(values: number[]): number[] {
  const sorted = [...values].sort((a, b) => a - b);
  const out: number[] = [];
  for (const value of sorted) {
    const last = out[out.length - 1];
    if (last === undefined || value - last > TOUCH) out.push(value);
  }
  return out;
}

/**
 * The ruled tables on a page: groups of touching borders with at least three horizontal and three
 * vertical lines (two rows, two columns). Boxes around a single paragraph are not tables.
 */
export function findRuledGrids(list: OperatorList, ops: PathOps): RuledGrid[] {
  const all = segments(list, ops);
  if (all.length > MAX_SEGMENTS) return [];
  // Union-find over touching segments.
  const parent = all.map((_, index) => index);
  const find = (i: number): number => {
    let root = i;
    while (parent[root] !== root) root = parent[root]!;
    parent[i] = root;
    return root;
  };
  for (let i = 0; i < all.length; i += 1) {
    for (let j = i + 1; j < all.length; j += 1) {
      if (touches(all[i]!, all[j]!)) parent[find(i)] = find(j);
    }
  }
  const groups = new Map<number, Segment[]>();
  all.forEach((segment, index) => {
    const root = find(index);
    groups.set(root, [...(groups.get(root) ?? []), segment]);
  });

  const grids: RuledGrid[] = [];
  for (const group of groups.values()) {
    const rows = distinct(group.filter((s) => s.horizontal).map((s) => s.at)).reverse();
    const columns = distinct(group.filter((s) => !s.horizontal).map((s) => s.at));
    if (rows.length >= 3 && columns.length >= 3) grids.push({ rows, columns });
  }
  return grids;
}

/** The cell (row, column) of a grid that a point falls in, or undefined outside the grid. */
export function cellAt(grid: RuledGrid, x: number, y: number): { row: number; column: number } | undefined {
  const row = grid.rows.findIndex((top, index) => index + 1 < grid.rows.length && y <= top && y > grid.rows[index + 1]!);
  const column = grid.columns.findIndex((left, index) => index + 1 < grid.columns.length && x >= left && x < grid.columns[index + 1]!);
  return row === -1 || column === -1 ? undefined : { row, column };
}
