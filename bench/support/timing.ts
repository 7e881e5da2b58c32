// Timing shared by the benches: best of n after a warm-up, wall clock and the process's CPU time side by
// side (on a shared machine the CPU time moves less than the wall clock).

export interface Timing { wall: number; cpu: number }

/** Best wall-clock and best process-CPU milliseconds over n runs (after one warm-up run). */
export async function bestOf(f: () => Promise<void> | void, n: number): Promise<Timing> {
  await f(); // warm-up: kernel set-up, allocator growth
  let wall = Infinity, cpu = Infinity;
  for (let i = 0; i < n; i++) {
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    await f();
    wall = Math.min(wall, performance.now() - t0);
    const c = process.cpuUsage(c0);
    cpu = Math.min(cpu, (c.user + c.system) / 1000);
  }
  return { wall, cpu };
}
