// A second reporter for test/run.mjs: names the test a timed-out file was running. Node 20 applies
// --test-timeout to each test *file* as a whole (measured: a file whose second test never settles is
// reported as "not ok - FILE … test timed out after Nms", and the test inside never reports, because its
// process is killed). The child process does announce each test as it dequeues it, so the tests that
// started and never passed or failed are the ones the deadline caught.
export default async function* reportTimeouts(source) {
  /** file → tests dequeued and not yet finished, outermost first */
  const running = new Map();
  for await (const event of source) {
    const { type, data } = event;
    if (!data?.file) continue;
    const open = running.get(data.file) ?? [];
    running.set(data.file, open);
    if (type === 'test:dequeue' && data.name !== data.file) open.push({ name: data.name, nesting: data.nesting });
    if ((type === 'test:pass' || type === 'test:fail') && data.name !== data.file) {
      const i = open.findLastIndex((t) => t.name === data.name && t.nesting === data.nesting);
      if (i >= 0) open.splice(i, 1);
    }
    if (type === 'test:fail' && data.name === data.file && data.details?.error?.failureType === 'testTimeoutFailure') {
      const names = open.map((t) => `"${t.name}"`).join(' > ');
      // A test spinning in synchronous code keeps its process from announcing anything: then only the file is known.
      const where = names ? `while running ${names}` : 'before any test in it reported starting (its process was busy in synchronous code)';
      yield `timed out: ${data.file}: ${data.details.error.message ?? 'test timed out'}, ${where}\n`;
    }
  }
}
