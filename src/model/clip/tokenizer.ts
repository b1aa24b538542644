/**
 * CLIP's byte-level BPE tokenizer, as openai/CLIP's simple_tokenizer.py and clip.tokenize(truncate=True).
 *
 * Text cleanup differs from openai's in one place: ftfy is not available everywhere, so `ftfy.fix_text` is
 * replaced by its four steps that matter for clean text (Latin ligatures, fullwidth → halfwidth, curly →
 * straight quotes, NFC). Mojibake repair, terminal-escape and control-character removal are skipped.
 * HTML unescaping follows Python's html.unescape (numeric references exactly; named references for the
 * HTML 4 set plus &apos; — rarer HTML5-only names such as &check; are left as written).
 * scripts/fixtures/tokenizer.py is the Python reference with the same cleanup.
 */
import { GeolensError, isNode, ShapeError } from '../../runtime/index.js';
import { resolveAgainstPage } from '../../io/page-url.js';

export const START_OF_TEXT = 49406;
export const END_OF_TEXT = 49407;
export const CONTEXT_LENGTH = 77;
/** Merges used by CLIP: the vocabulary file holds more, openai keeps 49152 - 256 - 2 of them. */
const MERGE_COUNT = 49152 - 256 - 2;
/** Where openai/CLIP publishes the vocabulary (1.3 MB gzip); raw.githubusercontent.com answers CORS requests, github.com's redirect does not. */
export const CLIP_VOCAB_URL = 'https://raw.githubusercontent.com/openai/CLIP/main/clip/bpe_simple_vocab_16e6.txt.gz';

/** GPT-2's byte → printable character table: every byte gets a visible, non-space character. */
export function bytesToUnicode(): string[] {
  const table = new Array<string>(256);
  let next = 256;
  for (let b = 0; b < 256; b++) {
    const printable = (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
    table[b] = String.fromCharCode(printable ? b : next++);
  }
  return table;
}

/** Vocabulary order: the printable bytes first, then the rest (the order of Python's dict values). */
function byteVocabOrder(table: string[]): string[] {
  const printable: string[] = [];
  const rest: string[] = [];
  for (let b = 0; b < 256; b++) (table[b]!.charCodeAt(0) === b ? printable : rest).push(table[b]!);
  return [...printable, ...rest];
}

// Python's `\s` in the `regex` package and str.isspace() (used by strip()) are not JavaScript's `\s`:
// Python counts U+0085 and leaves out U+FEFF; isspace() also counts U+001C..U+001F.
const REGEX_SPACE = '\\t\\n\\v\\f\\r \\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000';
const STRIP_SPACE = REGEX_SPACE + '\\x1c-\\x1f';
const WHITESPACE_RUN = new RegExp(`[${REGEX_SPACE}]+`, 'gu');
const STRIP = new RegExp(`^[${STRIP_SPACE}]+|[${STRIP_SPACE}]+$`, 'gu');
// openai compiles the pattern with IGNORECASE after lower-casing the text; the one fold that still
// matters is U+017F LONG S, which matches 's'.
const TOKEN_PATTERN = new RegExp(
  `<\\|[sſ]tartoftext\\|>|<\\|endoftext\\|>|'[sſ]|'t|'re|'ve|'m|'ll|'d|\\p{L}+|\\p{N}|[^${REGEX_SPACE}\\p{L}\\p{N}]+`,
  'gu',
);

const LIGATURES: Record<string, string> = {
  Ĳ: 'IJ', ĳ: 'ij', ŉ: 'ʼn', Ǆ: 'DŽ', ǅ: 'Dž', ǆ: 'dž', Ǉ: 'LJ', ǈ: 'Lj', ǉ: 'lj', Ǌ: 'NJ', ǋ: 'Nj', ǌ: 'nj',
  Ǳ: 'DZ', ǲ: 'Dz', ǳ: 'dz', ﬀ: 'ff', ﬁ: 'fi', ﬂ: 'fl', ﬃ: 'ffi', ﬄ: 'ffl', ﬅ: 'ſt', ﬆ: 'st',
};

/** The subset of ftfy.fix_text described above. */
export function fixTextLite(text: string): string {
  return text
    .replace(/[ĲĳŉǄ-ǌǱ-ǳﬀ-ﬆ]/gu, (c) => LIGATURES[c] ?? c)
    .replace(/[\u3000\uff01-\uffef]/gu, (c) => (c === '\u3000' ? ' ' : c.normalize('NFKC')))
    .replace(/[\u02bc\u2018-\u201b]/gu, "'")
    .replace(/[\u201c-\u201f]/gu, '"')
    .normalize('NFC');
}

/** basic_clean + whitespace_clean + lower(), as the tokenizer sees text. */
export function cleanText(text: string): string {
  const basic = htmlUnescape(htmlUnescape(fixTextLite(text))).replace(STRIP, '');
  return basic.replace(WHITESPACE_RUN, ' ').replace(STRIP, '').toLowerCase();
}

// html.unescape's tables: Windows-1252 fix-ups for C1 references, and code points it drops.
const C1_FIXUPS = '\u20ac\x81\u201a\u0192\u201e\u2026\u2020\u2021\u02c6\u2030\u0160\u2039\u0152\x8d\u017d\x8f\x90\u2018\u2019\u201c\u201d\u2022\u2013\u2014\u02dc\u2122\u0161\u203a\u0153\x9d\u017e\u0178';

function isDroppedCodePoint(n: number): boolean {
  return (n >= 0x1 && n <= 0x8) || n === 0xb || (n >= 0xe && n <= 0x1f) || (n >= 0x7f && n <= 0x9f) ||
    (n >= 0xfdd0 && n <= 0xfdef) || (n & 0xfffe) === 0xfffe;
}

// name:hex code point; HTML 4 entities plus &apos; and the upper-case aliases HTML5 keeps.
const NAMED_ENTITIES =
  'AElig:c6 AMP:26 Aacute:c1 Acirc:c2 Agrave:c0 Alpha:391 Aring:c5 Atilde:c3 Auml:c4 Beta:392 COPY:a9 Ccedil:c7 ' +
  'Chi:3a7 Dagger:2021 Delta:394 ETH:d0 Eacute:c9 Ecirc:ca Egrave:c8 Epsilon:395 Eta:397 Euml:cb GT:3e Gamma:393 ' +
  'Iacute:cd Icirc:ce Igrave:cc Iota:399 Iuml:cf Kappa:39a LT:3c Lambda:39b Mu:39c Ntilde:d1 Nu:39d OElig:152 ' +
  'Oacute:d3 Ocirc:d4 Ograve:d2 Omega:3a9 Omicron:39f Oslash:d8 Otilde:d5 Ouml:d6 Phi:3a6 Pi:3a0 Prime:2033 ' +
  'Psi:3a8 QUOT:22 REG:ae Rho:3a1 Scaron:160 Sigma:3a3 THORN:de Tau:3a4 Theta:398 Uacute:da Ucirc:db Ugrave:d9 ' +
  'Upsilon:3a5 Uuml:dc Xi:39e Yacute:dd Yuml:178 Zeta:396 aacute:e1 acirc:e2 acute:b4 aelig:e6 agrave:e0 ' +
  'alefsym:2135 alpha:3b1 amp:26 and:2227 ang:2220 apos:27 aring:e5 asymp:2248 atilde:e3 auml:e4 bdquo:201e ' +
  'beta:3b2 brvbar:a6 bull:2022 cap:2229 ccedil:e7 cedil:b8 cent:a2 chi:3c7 circ:2c6 clubs:2663 cong:2245 copy:a9 ' +
  'crarr:21b5 cup:222a curren:a4 dArr:21d3 dagger:2020 darr:2193 deg:b0 delta:3b4 diams:2666 divide:f7 eacute:e9 ' +
  'ecirc:ea egrave:e8 empty:2205 emsp:2003 ensp:2002 epsilon:3b5 equiv:2261 eta:3b7 eth:f0 euml:eb euro:20ac ' +
  'exist:2203 fnof:192 forall:2200 frac12:bd frac14:bc frac34:be frasl:2044 gamma:3b3 ge:2265 gt:3e hArr:21d4 ' +
  'harr:2194 hearts:2665 hellip:2026 iacute:ed icirc:ee iexcl:a1 igrave:ec image:2111 infin:221e int:222b ' +
  'iota:3b9 iquest:bf isin:2208 iuml:ef kappa:3ba lArr:21d0 lambda:3bb lang:27e8 laquo:ab larr:2190 lceil:2308 ' +
  'ldquo:201c le:2264 lfloor:230a lowast:2217 loz:25ca lrm:200e lsaquo:2039 lsquo:2018 lt:3c macr:af mdash:2014 ' +
  'micro:b5 middot:b7 minus:2212 mu:3bc nabla:2207 nbsp:a0 ndash:2013 ne:2260 ni:220b not:ac notin:2209 nsub:2284 ' +
  'ntilde:f1 nu:3bd oacute:f3 ocirc:f4 oelig:153 ograve:f2 oline:203e omega:3c9 omicron:3bf oplus:2295 or:2228 ' +
  'ordf:aa ordm:ba oslash:f8 otilde:f5 otimes:2297 ouml:f6 para:b6 part:2202 permil:2030 perp:22a5 phi:3c6 pi:3c0 ' +
  'piv:3d6 plusmn:b1 pound:a3 prime:2032 prod:220f prop:221d psi:3c8 quot:22 rArr:21d2 radic:221a rang:27e9 ' +
  'raquo:bb rarr:2192 rceil:2309 rdquo:201d real:211c reg:ae rfloor:230b rho:3c1 rlm:200f rsaquo:203a rsquo:2019 ' +
  'sbquo:201a scaron:161 sdot:22c5 sect:a7 shy:ad sigma:3c3 sigmaf:3c2 sim:223c spades:2660 sub:2282 sube:2286 ' +
  'sum:2211 sup:2283 sup1:b9 sup2:b2 sup3:b3 supe:2287 szlig:df tau:3c4 there4:2234 theta:3b8 thetasym:3d1 ' +
  'thinsp:2009 thorn:fe tilde:2dc times:d7 trade:2122 uArr:21d1 uacute:fa uarr:2191 ucirc:fb ugrave:f9 uml:a8 ' +
  'upsih:3d2 upsilon:3c5 uuml:fc weierp:2118 xi:3be yacute:fd yen:a5 yuml:ff zeta:3b6 zwj:200d zwnj:200c ';
/** Names html.unescape also accepts without the semicolon (and as a prefix: "&ampx" → "&x"). */
const LEGACY_ENTITIES =
  'AElig AMP Aacute Acirc Agrave Aring Atilde Auml COPY Ccedil ETH Eacute Ecirc Egrave Euml GT Iacute Icirc ' +
  'Igrave Iuml LT Ntilde Oacute Ocirc Ograve Oslash Otilde Ouml QUOT REG THORN Uacute Ucirc Ugrave Uuml Yacute ' +
  'aacute acirc acute aelig agrave amp aring atilde auml brvbar ccedil cedil cent copy curren deg divide eacute ' +
  'ecirc egrave eth euml frac12 frac14 frac34 gt iacute icirc iexcl igrave iquest iuml laquo lt macr micro middot ' +
  'nbsp not ntilde oacute ocirc ograve ordf ordm oslash otilde ouml para plusmn pound quot raquo reg sect shy ' +
  'sup1 sup2 sup3 szlig thorn times uacute ucirc ugrave uml uuml yacute yen yuml ';

let entityTables: { named: Map<string, string>; legacy: Set<string> } | null = null;

function entities(): { named: Map<string, string>; legacy: Set<string> } {
  if (!entityTables) {
    const named = new Map<string, string>();
    for (const item of NAMED_ENTITIES.trim().split(' ')) {
      const [name, hex] = item.split(':');
      named.set(name!, String.fromCodePoint(parseInt(hex!, 16)));
    }
    entityTables = { named, legacy: new Set(LEGACY_ENTITIES.trim().split(' ')) };
  }
  return entityTables;
}

const CHARACTER_REFERENCE = /&(#[0-9]+;?|#[xX][0-9a-fA-F]+;?|[^\t\n\f <&#;]{1,32};?)/gu;

/** Python's html.unescape (with the named-entity subset above). */
export function htmlUnescape(text: string): string {
  if (!text.includes('&')) return text;
  const { named, legacy } = entities();
  return text.replace(CHARACTER_REFERENCE, (whole, ref: string) => {
    if (ref[0] === '#') {
      const hex = ref[1] === 'x' || ref[1] === 'X';
      const digits = ref.slice(hex ? 2 : 1).replace(/;$/, '');
      const n = hex ? parseInt(digits, 16) : Number(digits);
      if (n === 0) return '\ufffd';
      if (n === 13) return '\r';
      if (n >= 0x80 && n <= 0x9f) return C1_FIXUPS[n - 0x80]!;
      if ((n >= 0xd800 && n <= 0xdfff) || n > 0x10ffff) return '\ufffd';
      if (isDroppedCodePoint(n)) return '';
      return String.fromCodePoint(n);
    }
    if (ref.endsWith(';')) {
      const value = named.get(ref.slice(0, -1));
      if (value !== undefined) return value;
    } else if (legacy.has(ref)) {
      return named.get(ref)!;
    }
    // The longest legacy name that prefixes the reference, as the HTML standard says.
    const chars = [...ref];
    for (let length = chars.length - 1; length > 1; length--) {
      const prefix = chars.slice(0, length).join('');
      if (legacy.has(prefix)) return named.get(prefix)! + chars.slice(length).join('');
    }
    return whole;
  });
}

/** A tokenized batch: ids [count, contextLength] row-major, 0-padded, and where each row's end token sits. */
export interface TokenBatch {
  ids: Int32Array;
  /** Per row, the index of its largest id (the first end token), which the text tower pools. */
  eotIndex: Int32Array;
  count: number;
  contextLength: number;
}

/** Per row of `ids` [n, contextLength], the index of the first largest id (torch's argmax, as HF pools). */
export function eotIndices(ids: Int32Array, contextLength = CONTEXT_LENGTH): Int32Array {
  if (ids.length % contextLength !== 0) {
    throw new ShapeError(`eotIndices: ${ids.length} ids is not a whole number of rows of ${contextLength}`);
  }
  const rows = ids.length / contextLength;
  const out = new Int32Array(rows);
  for (let r = 0; r < rows; r++) {
    let best = 0;
    for (let i = 1; i < contextLength; i++) if (ids[r * contextLength + i]! > ids[r * contextLength + best]!) best = i;
    out[r] = best;
  }
  return out;
}

export class ClipTokenizer {
  private readonly byteEncoder = bytesToUnicode();
  private readonly encoder = new Map<string, number>();
  private readonly decoder: string[] = [];
  private readonly ranks = new Map<string, number>();
  private readonly cache = new Map<string, string[]>();
  private readonly utf8 = new TextEncoder();

  /** `vocabulary` is the text of bpe_simple_vocab_16e6.txt: a header line, then one merge per line. */
  constructor(vocabulary: string) {
    const lines = vocabulary.split('\n');
    const merges = lines.slice(1, MERGE_COUNT + 1).map((line) => line.split(/\s+/).filter(Boolean));
    if (merges.length < MERGE_COUNT || merges.some((m) => m.length !== 2)) {
      throw new GeolensError(`CLIP vocabulary: expected ${MERGE_COUNT} merge lines of two symbols after the header, got ${lines.length - 1} lines`);
    }
    const bytes = byteVocabOrder(this.byteEncoder);
    const vocab = [...bytes, ...bytes.map((b) => b + '</w>'), ...merges.map(([a, b]) => a! + b!), '<|startoftext|>', '<|endoftext|>'];
    vocab.forEach((token, id) => {
      this.encoder.set(token, id);
      this.decoder[id] = token;
    });
    merges.forEach(([a, b], rank) => this.ranks.set(`${a} ${b}`, rank));
    this.cache.set('<|startoftext|>', ['<|startoftext|>']);
    this.cache.set('<|endoftext|>', ['<|endoftext|>']);
  }

  get vocabSize(): number {
    return this.decoder.length;
  }

  /**
   * Loads the vocabulary from a path (Node), an http(s) URL, or bytes; gzip is detected by its magic
   * bytes and inflated with node:zlib in Node or DecompressionStream in browsers.
   */
  static async load(location: string | URL | Uint8Array = CLIP_VOCAB_URL): Promise<ClipTokenizer> {
    const bytes = location instanceof Uint8Array ? location : await readLocation(location);
    const text = isGzip(bytes) ? await gunzip(bytes) : bytes;
    return new ClipTokenizer(new TextDecoder().decode(text));
  }

  /** Token ids of one text, without start and end tokens. */
  encode(text: string): number[] {
    const ids: number[] = [];
    for (const match of cleanText(text).matchAll(TOKEN_PATTERN)) {
      let token = '';
      for (const byte of this.utf8.encode(match[0])) token += this.byteEncoder[byte];
      for (const piece of this.bpe(token)) ids.push(this.encoder.get(piece)!);
    }
    return ids;
  }

  /** Inverse of encode, up to cleanup: word ends become spaces. */
  decode(ids: ArrayLike<number>): string {
    const byteDecoder = new Map(this.byteEncoder.map((c, b) => [c, b]));
    const bytes: number[] = [];
    for (let i = 0; i < ids.length; i++) {
      const token = this.decoder[ids[i]!];
      if (token === undefined) throw new GeolensError(`decode: token id ${ids[i]} is outside the vocabulary (0..${this.vocabSize - 1})`);
      for (const c of token.replace(/<\/w>/g, ' ')) bytes.push(byteDecoder.get(c) ?? 0x20);
    }
    return new TextDecoder().decode(new Uint8Array(bytes)).trim();
  }

  /**
   * clip.tokenize(texts, contextLength, truncate=True): [start, ...ids, end] per text, cut to
   * contextLength with the end token kept last, padded with 0. Returns ids [texts.length, contextLength].
   */
  tokenize(texts: readonly string[], contextLength = CONTEXT_LENGTH): Int32Array {
    return this.tokenizeBatch(texts, contextLength).ids;
  }

  /** tokenize() plus each row's end-token index. */
  tokenizeBatch(texts: readonly string[], contextLength = CONTEXT_LENGTH): TokenBatch {
    if (!Number.isInteger(contextLength) || contextLength < 2) {
      throw new ShapeError(`tokenize: contextLength must be an integer ≥ 2 (room for start and end tokens), got ${contextLength}`);
    }
    const ids = new Int32Array(texts.length * contextLength);
    texts.forEach((text, row) => {
      const tokens = [START_OF_TEXT, ...this.encode(text), END_OF_TEXT];
      if (tokens.length > contextLength) {
        tokens.length = contextLength;
        tokens[contextLength - 1] = END_OF_TEXT;
      }
      ids.set(tokens, row * contextLength);
    });
    return { ids, eotIndex: eotIndices(ids, contextLength), count: texts.length, contextLength };
  }

  /** Merges the lowest-ranked adjacent pair everywhere it occurs, until no ranked pair is left. */
  private bpe(token: string): string[] {
    const cached = this.cache.get(token);
    if (cached) return cached;
    let word = [...token];
    word[word.length - 1] += '</w>';
    while (word.length > 1) {
      let bestRank = Infinity;
      let first = '';
      let second = '';
      for (let i = 0; i + 1 < word.length; i++) {
        const rank = this.ranks.get(`${word[i]} ${word[i + 1]}`);
        if (rank !== undefined && rank < bestRank) {
          bestRank = rank;
          first = word[i]!;
          second = word[i + 1]!;
        }
      }
      if (bestRank === Infinity) break;
      const merged: string[] = [];
      for (let i = 0; i < word.length; i++) {
        if (word[i] === first && word[i + 1] === second) {
          merged.push(first + second);
          i++;
        } else {
          merged.push(word[i]!);
        }
      }
      word = merged;
    }
    // Prompts repeat words; the cap only stops unbounded growth on endless distinct input.
    if (this.cache.size > 50_000) this.cache.clear();
    this.cache.set(token, word);
    return word;
  }
}

function isGzip(bytes: Uint8Array): boolean {
  return bytes.length > 2 && bytes[0] === 0x1f && bytes[1] === 0x8b;
}

async function readLocation(location: string | URL): Promise<Uint8Array> {
  const href = resolveAgainstPage(location instanceof URL ? location.href : location);
  if (/^https?:/i.test(href)) {
    const response = await fetch(href);
    if (!response.ok) throw new GeolensError(`CLIP vocabulary: ${href} answered ${response.status} ${response.statusText}`);
    return new Uint8Array(await response.arrayBuffer());
  }
  if (!isNode()) throw new GeolensError(`CLIP vocabulary: '${href}' is not an http(s) URL; browsers can only fetch`);
  const { readFile } = await import('node:fs/promises');
  const path = href.startsWith('file:') ? (await import('node:url')).fileURLToPath(href) : href;
  try {
    return new Uint8Array(await readFile(path));
  } catch (error) {
    throw new GeolensError(`CLIP vocabulary: cannot read ${path} (${(error as Error).message})`);
  }
}

async function gunzip(bytes: Uint8Array): Promise<Uint8Array> {
  if (isNode()) {
    const { gunzipSync } = await import('node:zlib');
    return new Uint8Array(gunzipSync(bytes));
  }
  const stream = new Blob([bytes as BlobPart]).stream().pipeThrough(new DecompressionStream('gzip'));
  return new Uint8Array(await new Response(stream).arrayBuffer());
}
