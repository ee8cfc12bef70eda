/** Prints the Node version once per test run, so a log shows which runtime ran the suite. */
export default function setup(): void {
  console.log(`rlmkit tests on Node ${process.version}`);
}
