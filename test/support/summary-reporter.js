// Writes one plain closing line ("jest: N passed, N failed, N skipped") that scripts/test.sh
// prints last, after jest's own summary, so CI can read the outcome.
const fs = require('node:fs');

class SummaryReporter {
  onRunComplete(_contexts, results) {
    const skipped = results.numPendingTests + results.numTodoTests;
    const line = `jest: ${results.numPassedTests} passed, ${results.numFailedTests} failed, ${skipped} skipped`;
    if (process.env.JEST_SUMMARY_FILE) fs.writeFileSync(process.env.JEST_SUMMARY_FILE, `${line}\n`);
  }
}
module.exports = SummaryReporter;
