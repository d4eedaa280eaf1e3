/**
 * Draws the Teams app icons: color.png (192×192, the accent colour with a white figure) and
 * outline.png (32×32, white on transparent, as Teams requires). Run once with
 * `npx tsx manifest/teams/draw-icons.ts`; the PNGs are committed beside the manifest.
 */
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Rgba } from './png.ts';
import { encodePng } from './png.ts';

/** The manifest's accentColor, #4F6BED. */
const ACCENT = [0x4f, 0x6b, 0xed] as const;

/** Is a point of the unit square inside the figure (a head and shoulders)? Sampled 4×4 per pixel for smooth edges. */
function figure(x: number, y: number): boolean {
  const head = (x - 0.5) ** 2 + (y - 0.36) ** 2 <= 0.13 ** 2;
  const shoulders = y >= 0.56 && y <= 0.8 && (x - 0.5) ** 2 / 0.26 ** 2 + (y - 0.8) ** 2 / 0.24 ** 2 <= 1;
  return head || shoulders;
}

function draw(size: number, background: readonly [number, number, number] | undefined, inset: number): Rgba {
  const pixels = new Uint8Array(size * size * 4);
  const samples = 4;
  for (let py = 0; py < size; py += 1) {
    for (let px = 0; px < size; px += 1) {
      let hits = 0;
      for (let sy = 0; sy < samples; sy += 1) {
        for (let sx = 0; sx < samples; sx += 1) {
          const u = ((px + (sx + 0.5) / samples) / size - inset) / (1 - 2 * inset);
          const v = ((py + (sy + 0.5) / samples) / size - inset) / (1 - 2 * inset);
          if (figure(u, v)) hits += 1;
        }
      }
      const coverage = hits / (samples * samples);
      const i = (py * size + px) * 4;
      if (background === undefined) {
        pixels.set([255, 255, 255, Math.round(coverage * 255)], i);
      } else {
        const mix = (c: number) => Math.round(c + (255 - c) * coverage);
        pixels.set([mix(background[0]), mix(background[1]), mix(background[2]), 255], i);
      }
    }
  }
  return { width: size, height: size, pixels };
}

const here = fileURLToPath(new URL('.', import.meta.url));
writeFileSync(`${here}color.png`, encodePng(draw(192, ACCENT, 0.12)));
writeFileSync(`${here}outline.png`, encodePng(draw(32, undefined, 0.02)));
