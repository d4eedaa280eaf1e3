import type { Activity } from 'botbuilder';
import { breakMarkup } from '../../src/engine/user-text.ts';
import { CARD_VERSION } from './render-reply.ts';

/** Where the bot was installed: a personal chat, or a team or group chat (where it must be mentioned). */
export type WelcomeScope = 'personal' | 'shared';

/** Options for {@link welcomeActivity}. */
export interface WelcomeOptions {
  /** BOT_NAME, as Teams shows the app (the manifest's short name). */
  botName: string;
  /** An Adaptive Card; false sends the same words as markdown. */
  cards: boolean;
}

/** The welcome's lines, one per paragraph, in plain words both a card and markdown can show. */
export function welcomeLines(scope: WelcomeScope, botName: string): string[] {
  const intro = `Hi, I'm ${botName}. I answer questions about our HR policies from the company's HR handbook, and show the sections I used.`;
  if (scope === 'personal') {
    return [
      intro,
      'Ask in your own words, for example: "How many vacation days do I get?"',
      'Or type a command: help, policy <words>, holidays, contact <topic>, and for your own data history, usage and forget.',
    ];
  }
  return [
    intro,
    `Mention me with a question, for example: "@${botName} how many vacation days do I get?", or "@${botName} help".`,
    'Answers here are visible to everyone in this conversation. For your own history, usage or to erase your data, message me in a personal chat.',
  ];
}

/** The welcome message for a new install: an Adaptive Card (or markdown when cards are off). */
export function welcomeActivity(scope: WelcomeScope, options: WelcomeOptions): Partial<Activity> {
  const lines = welcomeLines(scope, options.botName);
  // "<words>" would read as an HTML tag in Teams markdown; a card TextBlock shows it as it is.
  if (!options.cards) return { type: 'message', text: lines.map((line) => breakMarkup(line)).join('\n\n'), textFormat: 'markdown' };
  const [title, ...rest] = lines;
  return {
    type: 'message',
    summary: `Welcome to ${options.botName}`,
    attachments: [
      {
        contentType: 'application/vnd.microsoft.card.adaptive',
        content: {
          type: 'AdaptiveCard',
          $schema: 'http://adaptivecards.io/schemas/adaptive-card.json',
          version: CARD_VERSION,
          body: [
            { type: 'TextBlock', text: `Welcome to ${options.botName}`, weight: 'Bolder', size: 'Medium', wrap: true },
            { type: 'TextBlock', text: title, wrap: true },
            ...rest.map((text) => ({ type: 'TextBlock', text, wrap: true, spacing: 'Medium' })),
          ],
          msteams: { width: 'Full' },
        },
      },
    ],
  };
}
