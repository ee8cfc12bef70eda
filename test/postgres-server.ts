/**
 * A real PostgreSQL server for tests: a fresh cluster in a temporary folder, on a free loopback port, run as a
 * child process and stopped by its own pid. Needs Debian's `postgresql` package (.ci/run installs it).
 */
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { existsSync, readdirSync } from "node:fs";
import { chown, mkdtemp, rm } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pg from "pg";
import { afterAll, beforeAll } from "vitest";

export interface PostgresServer {
  /** The `postgres` maintenance database, as the superuser `postgres` (trust auth on loopback). */
  url: string;
  /** Creates an empty database and returns its URL. */
  createDatabase(): Promise<string>;
  /** Stops the server (waits for it to exit) and removes its folder. */
  stop(): Promise<void>;
}

const START_TIMEOUT_MS = 60_000;
const STOP_TIMEOUT_MS = 20_000;

/** The folder holding `initdb` and `postgres`: pg_config's answer, else the newest Debian version. */
function findBinDir(): string {
  const candidates: string[] = [];
  try {
    candidates.push(execFileSync("pg_config", ["--bindir"], { encoding: "utf8", stdio: "pipe" }).trim());
  } catch {
    // No pg_config on PATH: look where Debian installs the server.
  }
  const debianRoot = "/usr/lib/postgresql";
  if (existsSync(debianRoot)) {
    const versions = readdirSync(debianRoot).sort((a, b) => Number(b) - Number(a) || b.localeCompare(a));
    candidates.push(...versions.map((version) => join(debianRoot, version, "bin")));
  }
  const found = candidates.find(
    (dir) => existsSync(join(dir, "initdb")) && existsSync(join(dir, "postgres")),
  );
  if (!found) {
    throw new Error(
      "PostgreSQL server binaries (initdb, postgres) not found: install Debian's `postgresql` package " +
        "(apt-get install -y postgresql) to run the PostgreSQL memory store tests",
    );
  }
  return found;
}

/** PostgreSQL refuses to run as root: then it runs as the `postgres` account the Debian package creates. */
function asServerUser(command: string, args: string[]): [string, string[]] {
  if (process.getuid?.() !== 0) return [command, args];
  return ["setpriv", ["--reuid=postgres", "--regid=postgres", "--init-groups", command, ...args]];
}

function postgresAccount(): { uid: number; gid: number } {
  try {
    const uid = Number(execFileSync("id", ["-u", "postgres"], { encoding: "utf8", stdio: "pipe" }).trim());
    const gid = Number(execFileSync("id", ["-g", "postgres"], { encoding: "utf8", stdio: "pipe" }).trim());
    return { uid, gid };
  } catch {
    throw new Error(
      "running as root, PostgreSQL needs the `postgres` account: install Debian's `postgresql` package",
    );
  }
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      const port = typeof address === "object" && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

async function canConnect(url: string): Promise<boolean> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 2000 });
  client.on("error", () => {});
  try {
    await client.connect();
    await client.query("SELECT 1");
    return true;
  } catch {
    return false;
  } finally {
    await client.end().catch(() => {});
  }
}

function exited(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve();
    else child.once("exit", () => resolve());
  });
}

export async function startPostgresServer(): Promise<PostgresServer> {
  const binDir = findBinDir();
  const root = await mkdtemp(join(tmpdir(), "rlmkit-pg-"));
  const dataDir = join(root, "data");
  if (process.getuid?.() === 0) {
    const { uid, gid } = postgresAccount();
    await chown(root, uid, gid);
  }
  const [initdb, initdbArgs] = asServerUser(join(binDir, "initdb"), [
    "-D",
    dataDir,
    "-U",
    "postgres",
    "--auth=trust",
    "--encoding=UTF8",
    "--no-locale",
    "--no-sync",
  ]);
  try {
    execFileSync(initdb, initdbArgs, { cwd: root, stdio: "pipe" });
  } catch (error) {
    await rm(root, { recursive: true, force: true });
    const stderr = (error as { stderr?: Buffer }).stderr?.toString() ?? String(error);
    throw new Error(`initdb failed: ${stderr.trim()}`);
  }

  const port = await freePort();
  const [postgres, postgresArgs] = asServerUser(join(binDir, "postgres"), [
    "-D",
    dataDir,
    "-p",
    String(port),
    "-k",
    root,
    "-c",
    "listen_addresses=127.0.0.1",
    "-c",
    "fsync=off",
    "-c",
    "synchronous_commit=off",
    "-c",
    "full_page_writes=off",
    "-c",
    "max_connections=200",
  ]);
  // setpriv execs postgres in place, so child.pid is the server's own pid.
  const child = spawn(postgres, postgresArgs, { cwd: root, stdio: ["ignore", "ignore", "pipe"] });
  let log = "";
  child.stderr?.on("data", (chunk: Buffer) => {
    log = (log + chunk.toString()).slice(-4000);
  });

  const url = `postgres://postgres@127.0.0.1:${port}/postgres`;
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      // SIGINT is PostgreSQL's "fast" shutdown: clients are disconnected, no waiting for them.
      child.kill("SIGINT");
      const timer = setTimeout(() => child.kill("SIGKILL"), STOP_TIMEOUT_MS);
      await exited(child);
      clearTimeout(timer);
    }
    await rm(root, { recursive: true, force: true });
  };

  const deadline = Date.now() + START_TIMEOUT_MS;
  while (!(await canConnect(url))) {
    if (child.exitCode !== null || child.signalCode !== null || Date.now() > deadline) {
      await stop();
      throw new Error(`PostgreSQL did not start on port ${port}: ${log.trim()}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }

  let databases = 0;
  return {
    url,
    async createDatabase() {
      const name = `rlm_test_${++databases}`;
      const admin = new pg.Client({ connectionString: url });
      await admin.connect();
      try {
        await admin.query(`CREATE DATABASE ${name}`);
      } finally {
        await admin.end();
      }
      return `postgres://postgres@127.0.0.1:${port}/${name}`;
    },
    stop,
  };
}

/**
 * One server with one fresh database for a test file: started before its tests (beforeAll) and stopped after
 * them (afterAll). Read `url` (and `server`) inside tests, once beforeAll has run.
 */
export function usePostgresDatabase(): { readonly url: string; readonly server: PostgresServer } {
  let server: PostgresServer | undefined;
  let url: string | undefined;
  beforeAll(async () => {
    server = await startPostgresServer();
    url = await server.createDatabase();
  }, START_TIMEOUT_MS * 2);
  afterAll(async () => {
    await server?.stop();
  }, START_TIMEOUT_MS);
  const started = <T>(value: T | undefined): T => {
    if (value === undefined)
      throw new Error("the PostgreSQL server is not started yet (read it inside a test)");
    return value;
  };
  return {
    get url() {
      return started(url);
    },
    get server() {
      return started(server);
    },
  };
}
