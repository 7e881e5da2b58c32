// A one-node Slurm cluster for the tests: munged, slurmctld and slurmd from Debian's slurm-wlm and munge,
// all configured and kept in one temporary directory (own munge key and socket, own ports, own state), so
// that a test run shares nothing with the machine or with another run. `stop()` kills the daemons by the
// process ids they wrote. Needs root (slurmd runs jobs as their user and must be able to become it), as
// ../shared/stack/slurm.md measured.
import { execFile, execFileSync } from 'node:child_process';
import { mkdtemp, mkdir, readFile, writeFile, chmod } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:net';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';

export interface Cluster {
  dir: string;
  /** Environment for the client commands and for every process that submits (SLURM_CONF). */
  env: NodeJS.ProcessEnv;
  node: string;
  stop(): Promise<void>;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
    s.on('error', reject);
  });
}

function run(cmd: string, args: string[], env: NodeJS.ProcessEnv): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { env, timeout: 30_000 }, (err, stdout, stderr) => (err ? reject(new Error(`${cmd} ${args.join(' ')}: ${stderr || err.message}`)) : resolve(stdout)));
  });
}

function missing(): string[] {
  return ['munged', 'slurmctld', 'slurmd', 'sbatch', 'squeue', 'scancel'].filter((c) => {
    try {
      execFileSync('sh', ['-c', `command -v ${c}`], { stdio: 'ignore' });
      return false;
    } catch {
      return true;
    }
  });
}

async function killByPidFile(path: string): Promise<void> {
  const pid = Number((await readFile(path, 'utf8').catch(() => '')).trim());
  if (!pid) return;
  try {
    process.kill(pid, 'SIGTERM');
  } catch {
    return;
  }
  for (let i = 0; i < 50; i++) {
    try {
      process.kill(pid, 0);
    } catch {
      return;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  try {
    process.kill(pid, 'SIGKILL');
  } catch { /* gone */ }
}

export async function startCluster(): Promise<Cluster> {
  const lacking = missing();
  if (lacking.length) throw new Error(`the Slurm tests need ${lacking.join(', ')}: run ./setup.sh (it installs slurm-wlm and munge)`);
  if (process.getuid?.() !== 0) throw new Error('the Slurm tests start slurmd, which must run as root (as in CI); run them as root');
  const dir = await mkdtemp(join(tmpdir(), 'promptscope-slurm-'));
  await chmod(dir, 0o755);
  for (const d of ['munge', 'state', 'spool', 'log']) await mkdir(join(dir, d));
  await chmod(join(dir, 'munge'), 0o700);
  const key = join(dir, 'munge', 'munge.key');
  await writeFile(key, randomBytes(1024), { mode: 0o400 });
  const socket = join(dir, 'munge', 'munge.socket');
  const env = { ...process.env, SLURM_CONF: join(dir, 'slurm.conf') };
  await run('munged', ['--force', `--key-file=${key}`, `--socket=${socket}`, `--pid-file=${join(dir, 'munge', 'munged.pid')}`,
    `--log-file=${join(dir, 'log', 'munged.log')}`, `--seed-file=${join(dir, 'munge', 'seed')}`], env);
  const node = hostname();
  const [ctldPort, dPort] = [await freePort(), await freePort()];
  // Values from ../shared/stack/slurm.md: no cgroups in the sandbox (linuxproc, task/none), one node with
  // the machine's cores, a default partition that is up. --no-requeue comes from the executor's sbatch.
  const conf = `ClusterName=promptscope-test
SlurmctldHost=${node}
SlurmctldPort=${ctldPort}
SlurmdPort=${dPort}
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=${socket}
StateSaveLocation=${join(dir, 'state')}
SlurmdSpoolDir=${join(dir, 'spool')}
SlurmctldPidFile=${join(dir, 'slurmctld.pid')}
SlurmdPidFile=${join(dir, 'slurmd.pid')}
SlurmctldLogFile=${join(dir, 'log', 'slurmctld.log')}
SlurmdLogFile=${join(dir, 'log', 'slurmd.log')}
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
MpiDefault=none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
SchedulerType=sched/backfill
SchedulerParameters=sched_interval=1
KillWait=2
MinJobAge=600
InactiveLimit=0
NodeName=${node} CPUs=2 RealMemory=8000 State=UNKNOWN
PartitionName=debug Nodes=${node} Default=YES MaxTime=INFINITE State=UP
`;
  await writeFile(env.SLURM_CONF, conf);
  const stop = async () => {
    await killByPidFile(join(dir, 'slurmd.pid'));
    await killByPidFile(join(dir, 'slurmctld.pid'));
    await killByPidFile(join(dir, 'munge', 'munged.pid'));
  };
  try {
    await run('slurmctld', ['-f', env.SLURM_CONF], env);
    await run('slurmd', ['-f', env.SLURM_CONF], env);
    for (let i = 0; ; i++) {
      const state = (await run('sinfo', ['-h', '-o', '%T'], env).catch(() => '')).trim();
      if (state === 'idle') break;
      if (i > 150) throw new Error(`the test cluster's node did not become idle in 30 s (sinfo: "${state}"); logs in ${join(dir, 'log')}`);
      await new Promise((r) => setTimeout(r, 200));
    }
  } catch (err) {
    await stop();
    throw err;
  }
  return { dir, env, node, stop };
}
