import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { runCases, type CaseOutputs } from './cases.js';
import './kernel-cases.js';
import { QUANTIZED_CASES, quantizedCaseReference } from './quantized-cases.js';
import { modulePage, pageBundle, pageResult, withBrowserPage } from '../support/browser.js';
import { testGpu } from '../support/gpu.js';
import { relativeError } from '../support/numeric.js';

test('kernels give the same numbers in headless Chromium as in Node', async () => {
  const gpu = await testGpu();
  const nodeOutputs = await runCases(gpu);
  const result = await withBrowserPage({ '/': modulePage('/kernels.page.js'), '/kernels.page.js': pageBundle('browser/kernels') }, '/', (run) =>
    pageResult<{ adapter: string; outputs: CaseOutputs }>(run, 'geolensResult'),
  );
  assert.match(result.adapter, /SwiftShader/i);
  assert.equal(Object.keys(result.outputs).sort(), Object.keys(nodeOutputs).sort());
  for (const [name, expected] of Object.entries(nodeOutputs)) {
    const actual = result.outputs[name]!;
    assert.is(actual.length, expected.length, `${name}: length`);
    // Same WGSL, same device, same inputs: the results must be identical bit for bit.
    const firstDifference = actual.findIndex((v, i) => !Object.is(v, expected[i]));
    assert.is(firstDifference, -1, `${name}[${firstDifference}]: browser ${actual[firstDifference]} vs node ${expected[firstDifference]}`);
  }
  // The quantized GEMMs are also checked against their CPU reference on the page's own output.
  for (const [name, dtype] of Object.entries(QUANTIZED_CASES)) {
    const error = relativeError(result.outputs[name]!, quantizedCaseReference(dtype));
    assert.ok(error <= 1e-5, `${name} in Chromium: relative error ${error.toExponential(2)} against the reference > 1e-5`);
  }
});

test.run();
