// Browser side of tokenizer-browser.test.ts: loads the gzipped vocabulary by URL (inflated with
// DecompressionStream, as in any browser) and tokenizes the fixture strings.
import { ClipTokenizer } from '../../src/model/clip/tokenizer.js';

declare global {
  interface Window {
    tokenizerResult?: { ids: number[]; eotIndex: number[] } | { error: string };
  }
}

(async () => {
  const tokenizer = await ClipTokenizer.load(new URL('/vocab.txt.gz', location.href));
  const fixture = (await (await fetch('/tokenizer.json')).json()) as { cases: { text: string }[] };
  const batch = tokenizer.tokenizeBatch(fixture.cases.map((c) => c.text));
  return { ids: Array.from(batch.ids), eotIndex: Array.from(batch.eotIndex) };
})().then(
  (result) => (window.tokenizerResult = result),
  (error: Error) => (window.tokenizerResult = { error: `${error.name}: ${error.message}` }),
);
