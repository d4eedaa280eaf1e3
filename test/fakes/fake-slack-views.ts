/**
 * Slack's documented Block Kit and view limits, checked by the fake Web API so a test fails where
 * Slack would refuse the call. Each problem is worded as Slack words its own
 * (`[ERROR] … [json-pointer:/view/…]`). Sources: docs.slack.dev reference pages for views (modal,
 * home), blocks (section, header, context, actions, context_actions, input) and elements (button,
 * feedback_buttons, plain_text_input, static_select), and the views.open / views.publish methods.
 */

/** A view's JSON may be at most this large (`view_too_large`). */
export const MAX_VIEW_BYTES = 250 * 1024;
/** Blocks in one modal or home view. */
export const MAX_VIEW_BLOCKS = 100;
/** A trigger_id may be exchanged for a view this long after the interaction, and once. */
export const TRIGGER_TTL_MS = 3_000;

type Json = Record<string, unknown>;

/** Problems with a view for views.open (`modal`) or views.publish (`home`); empty when Slack would take it. */
export function viewProblems(view: unknown, type: 'modal' | 'home'): string[] {
  const problems: string[] = [];
  const at = (path: string, message: string) => problems.push(`[ERROR] ${message} [json-pointer:/view${path}]`);
  if (!isObject(view)) {
    at('', 'must be an object');
    return problems;
  }
  if (view.type !== type) at('/type', `must be "${type}"`);
  maxLength(view.callback_id, 255, '/callback_id', at);
  maxLength(view.private_metadata, 3000, '/private_metadata', at);
  maxLength(view.external_id, 255, '/external_id', at);
  const blocks = view.blocks;
  if (!Array.isArray(blocks)) {
    at('/blocks', 'is required');
    return problems;
  }
  if (blocks.length > MAX_VIEW_BLOCKS) at('/blocks', `must be no more than ${MAX_VIEW_BLOCKS} items`);
  if (type === 'modal') {
    plainText(view.title, 24, '/title', at, true);
    plainText(view.close, 24, '/close', at, false);
    plainText(view.submit, 24, '/submit', at, false);
    if (view.submit === undefined && blocks.some((block) => isObject(block) && block.type === 'input')) at('/submit', 'is required when the view has input blocks');
  }
  blockProblems(blocks, '/blocks', at);
  return problems;
}

/**
 * Problems with the blocks of a message, for the block types this project added after the message
 * limits were first faked (`context_actions` with `feedback_buttons`); other blocks pass unchecked here.
 */
export function messageBlockProblems(blocks: unknown): string[] {
  const problems: string[] = [];
  if (!Array.isArray(blocks)) return problems;
  const at = (path: string, message: string) => problems.push(`[ERROR] ${message} [json-pointer:${path}]`);
  blocks.forEach((block, index) => {
    if (isObject(block) && block.type === 'context_actions') contextActions(block, `/blocks/${index}`, at);
  });
  return problems;
}

type At = (path: string, message: string) => void;

function blockProblems(blocks: readonly unknown[], path: string, at: At): void {
  const ids = new Set<string>();
  blocks.forEach((block, index) => {
    const here = `${path}/${index}`;
    if (!isObject(block)) {
      at(here, 'must be an object');
      return;
    }
    if (typeof block.block_id === 'string') {
      maxLength(block.block_id, 255, `${here}/block_id`, at);
      if (ids.has(block.block_id)) at(`${here}/block_id`, 'must be unique within the view');
      ids.add(block.block_id);
    }
    switch (block.type) {
      case 'header':
        plainText(block.text, 150, `${here}/text`, at, true);
        break;
      case 'divider':
        break;
      case 'section':
        if (block.text === undefined && block.fields === undefined) at(here, 'must have text or fields');
        if (block.text !== undefined) textObject(block.text, 3000, `${here}/text`, at);
        if (Array.isArray(block.fields)) {
          if (block.fields.length > 10) at(`${here}/fields`, 'must be no more than 10 items');
          block.fields.forEach((field, i) => textObject(field, 2000, `${here}/fields/${i}`, at));
        }
        if (block.accessory !== undefined) element(block.accessory, `${here}/accessory`, at);
        break;
      case 'context': {
        const elements = Array.isArray(block.elements) ? block.elements : [];
        if (elements.length < 1 || elements.length > 10) at(`${here}/elements`, 'must have 1 to 10 items');
        elements.forEach((item, i) => textObject(item, 3000, `${here}/elements/${i}`, at));
        break;
      }
      case 'actions': {
        const elements = Array.isArray(block.elements) ? block.elements : [];
        if (elements.length < 1 || elements.length > 25) at(`${here}/elements`, 'must have 1 to 25 items');
        elements.forEach((item, i) => element(item, `${here}/elements/${i}`, at));
        break;
      }
      case 'context_actions':
        contextActions(block, here, at);
        break;
      case 'input':
        plainText(block.label, 2000, `${here}/label`, at, true);
        plainText(block.hint, 2000, `${here}/hint`, at, false);
        if (block.element === undefined) at(`${here}/element`, 'is required');
        else element(block.element, `${here}/element`, at);
        break;
      default:
        at(`${here}/type`, `unsupported block type ${JSON.stringify(block.type)}`);
    }
  });
}

function contextActions(block: Json, here: string, at: At): void {
  const elements = Array.isArray(block.elements) ? block.elements : [];
  if (elements.length < 1 || elements.length > 5) at(`${here}/elements`, 'must have 1 to 5 items');
  elements.forEach((item, i) => {
    const path = `${here}/elements/${i}`;
    if (!isObject(item) || (item.type !== 'feedback_buttons' && item.type !== 'icon_button')) {
      at(path, 'must be a feedback_buttons or icon_button element');
      return;
    }
    element(item, path, at);
  });
}

function element(item: unknown, path: string, at: At): void {
  if (!isObject(item)) {
    at(path, 'must be an object');
    return;
  }
  maxLength(item.action_id, 255, `${path}/action_id`, at);
  switch (item.type) {
    case 'button':
      plainText(item.text, 75, `${path}/text`, at, true);
      maxLength(item.value, 2000, `${path}/value`, at);
      maxLength(item.url, 3000, `${path}/url`, at);
      if (item.style !== undefined && item.style !== 'primary' && item.style !== 'danger') at(`${path}/style`, 'must be primary or danger');
      if (item.confirm !== undefined) confirm(item.confirm, `${path}/confirm`, at);
      break;
    case 'feedback_buttons':
      for (const side of ['positive_button', 'negative_button'] as const) {
        const button = item[side];
        if (!isObject(button)) {
          at(`${path}/${side}`, 'is required');
          continue;
        }
        plainText(button.text, 75, `${path}/${side}/text`, at, true);
        if (typeof button.value !== 'string') at(`${path}/${side}/value`, 'is required');
        maxLength(button.value, 2000, `${path}/${side}/value`, at);
        maxLength(button.accessibility_label, 75, `${path}/${side}/accessibility_label`, at);
      }
      break;
    case 'icon_button':
      plainText(item.text, 75, `${path}/text`, at, true);
      break;
    case 'plain_text_input': {
      plainText(item.placeholder, 150, `${path}/placeholder`, at, false);
      const min = item.min_length;
      const max = item.max_length;
      if (min !== undefined && (!Number.isInteger(min) || (min as number) < 0 || (min as number) > 3000)) at(`${path}/min_length`, 'must be an integer from 0 to 3000');
      if (max !== undefined && (!Number.isInteger(max) || (max as number) < 1 || (max as number) > 3000)) at(`${path}/max_length`, 'must be an integer from 1 to 3000');
      if (typeof min === 'number' && typeof max === 'number' && min > max) at(`${path}/min_length`, 'must not exceed max_length');
      break;
    }
    case 'static_select': {
      plainText(item.placeholder, 150, `${path}/placeholder`, at, false);
      const options = Array.isArray(item.options) ? item.options : [];
      if (options.length < 1 || options.length > 100) at(`${path}/options`, 'must have 1 to 100 items');
      options.forEach((option, i) => {
        if (!isObject(option)) return at(`${path}/options/${i}`, 'must be an object');
        plainText(option.text, 75, `${path}/options/${i}/text`, at, true);
        if (typeof option.value !== 'string') at(`${path}/options/${i}/value`, 'is required');
        maxLength(option.value, 150, `${path}/options/${i}/value`, at);
      });
      break;
    }
    default:
      at(`${path}/type`, `unsupported element type ${JSON.stringify(item.type)}`);
  }
}

function confirm(value: unknown, path: string, at: At): void {
  if (!isObject(value)) return at(path, 'must be an object');
  plainText(value.title, 100, `${path}/title`, at, true);
  textObject(value.text, 300, `${path}/text`, at);
  plainText(value.confirm, 30, `${path}/confirm`, at, true);
  plainText(value.deny, 30, `${path}/deny`, at, true);
}

function textObject(value: unknown, max: number, path: string, at: At): void {
  if (!isObject(value) || (value.type !== 'mrkdwn' && value.type !== 'plain_text') || typeof value.text !== 'string') {
    at(path, 'must be a text object');
    return;
  }
  if (value.text.length < 1) at(`${path}/text`, 'must be at least 1 character');
  if (value.text.length > max) at(`${path}/text`, `must be less than ${max + 1} characters`);
}

function plainText(value: unknown, max: number, path: string, at: At, required: boolean): void {
  if (value === undefined) {
    if (required) at(path, 'is required');
    return;
  }
  if (!isObject(value) || value.type !== 'plain_text') {
    at(path, 'must be a plain_text object');
    return;
  }
  textObject(value, max, path, at);
}

function maxLength(value: unknown, max: number, path: string, at: At): void {
  if (typeof value === 'string' && value.length > max) at(path, `must be less than ${max + 1} characters`);
}

function isObject(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
