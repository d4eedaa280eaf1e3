import type { Activity, Attachment } from 'botbuilder';
import type { Reply } from '../../src/message.ts';

/** How a reply is drawn. */
export interface RenderOptions {
  /** Adaptive Cards for answers with sources or feedback; false: markdown only. */
  cards: boolean;
  /**
   * The answer text is already the message text (a streamed reply's final message), so the card
   * carries only the sources and the feedback buttons.
   */
  textOutsideCard?: boolean;
}

const CARD_CONTENT_TYPE = 'application/vnd.microsoft.card.adaptive';
/** 1.4 is the version Teams needs for Action.Execute (Universal Actions). */
const CARD_VERSION = '1.4';

/** What the engine's reply kinds are called on the card. */
function label(reply: Reply): string | undefined {
  switch (reply.kind) {
    case 'answer':
      return 'Answer from the HR handbook';
    case 'excerpts':
      return 'From the HR handbook (passages, no AI)';
    default:
      return undefined;
  }
}

/** Does this reply get a card (it has sources or can take feedback) or plain markdown? */
export function wantsCard(reply: Reply, options: RenderOptions): boolean {
  return options.cards && (reply.sources.length > 0 || reply.answerId !== undefined || (reply.actions?.length ?? 0) > 0);
}

/** The activity fields (text, attachments) that show a reply in Teams. */
export function renderReply(reply: Reply, options: RenderOptions): Partial<Activity> {
  if (!wantsCard(reply, options)) return { type: 'message', text: markdownWithSources(reply), textFormat: 'markdown' };
  const card = adaptiveCard(reply, options.textOutsideCard === true);
  return {
    type: 'message',
    ...(options.textOutsideCard === true ? { text: reply.text, textFormat: 'markdown' } : {}),
    attachments: [card],
  };
}

/** Markdown for clients or settings without cards: the text, then its sources as a list. */
export function markdownWithSources(reply: Reply): string {
  if (reply.sources.length === 0) return reply.text;
  const sources = reply.sources.map((source) => `- ${source.headingPath} (${source.file})`);
  return `${reply.text}\n\n**Sources**\n${sources.join('\n')}`;
}

function adaptiveCard(reply: Reply, textOutsideCard: boolean): Attachment {
  const body: unknown[] = [];
  const heading = label(reply);
  if (heading !== undefined && !textOutsideCard) body.push({ type: 'TextBlock', text: heading, weight: 'Bolder', size: 'Small', isSubtle: true, wrap: true });
  if (!textOutsideCard) body.push({ type: 'TextBlock', text: reply.text, wrap: true });
  if (reply.sources.length > 0) {
    body.push({ type: 'TextBlock', text: 'Sources', weight: 'Bolder', size: 'Small', spacing: 'Medium', wrap: true });
    for (const source of reply.sources) {
      body.push({ type: 'TextBlock', text: `${source.headingPath} (${source.file})`, size: 'Small', isSubtle: true, spacing: 'None', wrap: true });
    }
  }
  const actions: unknown[] =
    reply.answerId === undefined
      ? []
      : (['up', 'down'] as const).map((rating) => ({
          // Action.Execute arrives as an adaptiveCard/action invoke carrying the clicking user's
          // verified identity; the data below only says which answer and which rating.
          type: 'Action.Execute',
          title: rating === 'up' ? '👍 Helpful' : '👎 Not helpful',
          verb: 'feedback',
          data: { hrbot: 'feedback', answerId: reply.answerId, rating },
        }));
  if (reply.actions?.includes('forget') === true) {
    // Erases the data of whoever clicks (the invoke's verified user), never of the card's recipient.
    // Erasing cannot be undone: the button opens a confirmation first (cards have no confirm dialog).
    actions.push({
      type: 'Action.ShowCard',
      title: 'Erase my data',
      card: {
        type: 'AdaptiveCard',
        body: [{ type: 'TextBlock', text: 'This erases your questions, answers, feedback and usage records. It cannot be undone.', wrap: true }],
        actions: [{ type: 'Action.Execute', title: 'Erase everything', verb: 'forget', style: 'destructive', data: { hrbot: 'forget' } }],
      },
    });
  }
  return {
    contentType: CARD_CONTENT_TYPE,
    content: {
      type: 'AdaptiveCard',
      $schema: 'http://adaptivecards.io/schemas/adaptive-card.json',
      version: CARD_VERSION,
      body,
      ...(actions.length === 0 ? {} : { actions }),
      msteams: { width: 'Full' },
    },
  };
}
