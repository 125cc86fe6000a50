/**
 * Prints one plain closing line, "tests: N passed, N failed, N skipped", as the very last line
 * of a run (after vitest's own summary), so tools that read the end of the output (CI) see the
 * counts in a common format. A test file that fails to load counts as one failure.
 */
import fs from "node:fs";
import type { Reporter, TestModule } from "vitest/node";

export default class SummaryReporter implements Reporter {
  onTestRunEnd(modules: ReadonlyArray<TestModule>): void {
    let passed = 0;
    let failed = 0;
    let skipped = 0;
    for (const m of modules) {
      const tests = [...m.children.allTests()];
      for (const t of tests) {
        const state = t.result().state;
        if (state === "passed") passed++;
        else if (state === "failed") failed++;
        else skipped++;
      }
      if (m.state() === "failed" && tests.every((t) => t.result().state !== "failed")) failed++;
    }
    const line = `tests: ${passed} passed, ${failed} failed, ${skipped} skipped\n`;
    process.once("exit", () => fs.writeSync(1, line));
  }
}
