import mammoth from 'mammoth';
import { TITLE_CLASS, htmlToMarkdown } from './convert-html.ts';

// Beyond mammoth's defaults (Heading 1–6 → h1–h6, lists, tables): Word's Title style is the
// document's title, above Heading 1; a Subtitle is ordinary text.
const STYLE_MAP = [
  `p[style-name='Title'] => h1.${TITLE_CLASS}:fresh`,
  `p.Title => h1.${TITLE_CLASS}:fresh`,
  "p[style-name='Subtitle'] => p:fresh",
];

// Pictures carry no searchable text; dropping them keeps megabytes of base64 out of the HTML.
const NO_IMAGES = mammoth.images.imgElement(() => Promise.resolve({ src: '' }));

/**
 * Convert a Word (.docx) file to markdown: mammoth turns its styles into HTML (headings, lists,
 * tables), then the HTML path makes markdown of it, with bold one-line paragraphs read as headings.
 * Rejects when the bytes are not a Word document.
 */
export async function docxToMarkdown(bytes: Uint8Array): Promise<string> {
  let html: string;
  try {
    const result = await mammoth.convertToHtml(
      { buffer: Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength) },
      // externalFileAccess stays off: a document must not make the bot read other files on the machine.
      { styleMap: STYLE_MAP, convertImage: NO_IMAGES, ignoreEmptyParagraphs: true, externalFileAccess: false },
    );
    html = result.value;
  } catch (error) {
    // JSZip's words for "not a zip" point readers at its own documentation; say what it means here.
    const message = error instanceof Error ? error.message : String(error);
    if (/central directory|zip/i.test(message)) throw new Error('it is not a Word .docx file (not a zip package); a .doc from Word 97-2003 must be saved as .docx', { cause: error });
    throw new Error(`it is not a readable Word .docx file (${message})`, { cause: error });
  }
  return htmlToMarkdown(html, { boldParagraphsAsHeadings: true });
}
