/**
 * overlayctl in process: `runCli` against an in-process simulated overlayd
 * on a temporary socket, with an `io` that collects what it writes. The
 * child-process tests (cli.test.ts) prove the real bin, its exit codes and
 * signals; these make the same code paths count for coverage, and reach the
 * ones a child process makes awkward (TTY output, colours, the inspector).
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { type AddressInfo, createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import WebSocket from 'ws';
import type { Io } from '../../src/cli/connect.js';
import { startStatelyInspector } from '../../src/cli/inspect.js';
import { formatResponse, toJson } from '../../src/cli/output.js';
import { buildProgram, runCli } from '../../src/cli/program.js';
import { decodeWire } from '../../src/protocol/index.js';
import { type RunningOverlayd, startOverlayd } from '../../src/server/overlayd.js';
import { cliPairs } from '../support/cli-runs.js';
import { startScriptedServer, successFor } from '../support/scripted-server.js';

interface Captured {
  io: Io;
  readonly stdout: string;
  readonly stderr: string;
}

/** An `io` whose streams collect text; `tty` marks both as terminals. */
function capture(options: { tty?: boolean; env?: NodeJS.ProcessEnv } = {}): Captured {
  let stdout = '';
  let stderr = '';
  const tty = options.tty === true;
  return {
    io: {
      stdout: { write: (chunk: string) => (stdout += chunk), isTTY: tty },
      stderr: { write: (chunk: string) => (stderr += chunk), isTTY: tty },
      env: options.env ?? {},
    },
    get stdout() {
      return stdout;
    },
    get stderr() {
      return stderr;
    },
  };
}

interface Ran {
  code: number;
  stdout: string;
  stderr: string;
}

/** A command that runs until it is told to stop: its output so far, and its exit code. */
interface Running {
  out: Captured;
  done: Promise<number>;
}

let dir: string;
let socket: string;
let overlayd: RunningOverlayd;
const requests: string[] = [];
let baseline: { SIGINT: number; SIGTERM: number };

/** overlayctl --socket <socket> …args, to completion. */
async function ctl(
  args: readonly string[],
  options: { tty?: boolean; env?: NodeJS.ProcessEnv; socket?: string } = {},
): Promise<Ran> {
  const out = capture(options);
  const code = await runCli(['--socket', options.socket ?? socket, ...args], out.io);
  return { code, stdout: out.stdout, stderr: out.stderr };
}

function start(
  args: readonly string[],
  options: { tty?: boolean; env?: NodeJS.ProcessEnv } = {},
): Running {
  const out = capture(options);
  return { out, done: runCli(args, out.io) };
}

/** Polls until `predicate` holds. */
async function until(predicate: () => boolean, what: string, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** What a Ctrl-C at the terminal does: the same event on `process`, in this worker. */
const interrupt = (): boolean => process.emit('SIGINT', 'SIGINT');

async function freePort(): Promise<number> {
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, resolve));
  const { port } = probe.address() as AddressInfo;
  await new Promise((resolve) => probe.close(resolve));
  return port;
}

const listening = (server: Server, path: string) =>
  new Promise<void>((resolve) => server.listen(path, resolve));

const ANSI = /\x1b\[\d+m/g;
const plain = (text: string): string => text.replace(ANSI, '');

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ovl-'));
  socket = join(dir, 'overlayd.sock');
  overlayd = await startOverlayd({
    socket,
    serve: { group: null },
    onRequest: (entry) => requests.push(entry.op),
  });
  baseline = { SIGINT: process.listenerCount('SIGINT'), SIGTERM: process.listenerCount('SIGTERM') };
});

afterAll(async () => {
  await overlayd.close();
  await rm(dir, { recursive: true, force: true });
});

afterEach(() => {
  vi.unstubAllEnvs();
  // waitForSignal must not leave its listeners behind.
  const left = {
    SIGINT: process.listenerCount('SIGINT'),
    SIGTERM: process.listenerCount('SIGTERM'),
  };
  // A failed test may leave a command waiting: stop it, so that it does not spill into the next.
  if (left.SIGINT > baseline.SIGINT) interrupt();
  expect(left).toEqual(baseline);
});

describe('overlayctl in process: help and usage', () => {
  it('prints help with the exit codes, on stdout, exit 0', async () => {
    const root = await ctl(['--help']);
    expect(root.code).toBe(0);
    expect(root.stdout).toMatch(/^Usage: overlayctl \[options\] \[command\]/);
    expect(root.stdout).toContain('Exit codes:\n  0  ok');
    expect(root.stdout).toContain('attach-container');
    const sub = await ctl(['add-peer', '--help']);
    expect(sub.code).toBe(0);
    expect(sub.stdout).toContain('--allowed-ips <cidrs>');
    expect(sub.stdout).toContain('Global Options:');
    expect(sub.stdout).toContain('5  protocol or codec error');
  });

  it('with no command, prints the usage on stderr and exits 2', async () => {
    const out = capture();
    expect(await runCli([], out.io)).toBe(2);
    expect(out.stdout).toBe('');
    expect(out.stderr).toMatch(/^Usage: overlayctl/);
  });

  it('builds one subcommand per op, plus serve, call and watch', () => {
    const names = buildProgram(capture().io).commands.map((cmd) => cmd.name());
    expect(names).toEqual([
      'serve',
      'set-local-node-id',
      'set-local-wg-pubkey',
      'setup-global-overlay',
      'teardown-global-overlay',
      'setup-service-overlay',
      'teardown-service-overlay',
      'allocate-ip',
      'release-ip',
      'attach-container',
      'detach-container',
      'add-peer',
      'remove-peer',
      'add-allowed-ip',
      'remove-allowed-ip',
      'register-dns',
      'unregister-dns',
      'status',
      'nat-tick',
      'shutdown',
      'call',
      'watch',
    ]);
  });

  it('the socket defaults to the one under ZLAYER_DATA_DIR', async () => {
    const dataDir = join(dir, 'data');
    const out = capture({ env: { ZLAYER_DATA_DIR: dataDir } });
    expect(await runCli(['status'], out.io)).toBe(3);
    expect(out.stderr).toContain(`ENOENT ${join(dataDir, 'run', 'zlayer-overlayd.sock')}`);
  });

  it('exits 2 on every kind of bad argument, naming it, before connecting', async () => {
    const before = requests.length;
    const setup = ['setup-global-overlay', '--deployment', 'd', '--instance-id', 'i'];
    const peer = ['add-peer', '--public-key', 'k', '--endpoint', 'h:1', '--allowed-ips'];
    const cases: Array<[string[], RegExp]> = [
      [
        ['set-local-node-id', '18446744073709551616'],
        /argument 'id'.*at most 18446744073709551615/,
      ],
      [['set-local-node-id', '012'], /argument 'id'.*decimal integer/],
      [['set-local-wg-pubkey', '  '], /argument 'key'.*must not be empty/],
      [[...setup, '--wg-port', '1'], /required option '--cluster-cidr <cidr>' not specified/],
      [[...setup, '--cluster-cidr', '10.0.0.0/8', '--wg-port', '70000'], /'--wg-port <port>'/],
      [[...setup, '--cluster-cidr', '10.0.0.0', '--wg-port', '1'], /'--cluster-cidr <cidr>'/],
      [[...setup, '--cluster-cidr', '10.0.0.0/33', '--wg-port', '1'], /'--cluster-cidr <cidr>'/],
      [[...setup, '--cluster-cidr', 'fd00::/129', '--wg-port', '1'], /'--cluster-cidr <cidr>'/],
      [[...setup, '--cluster-cidr', '10.0.0.0/x', '--wg-port', '1'], /'--cluster-cidr <cidr>'/],
      [
        [...setup, '--cluster-cidr', '10.0.0.0/8', '--slice-cidr', 'x/8', '--wg-port', '1'],
        /'--slice-cidr <cidr>'/,
      ],
      [['setup-service-overlay', '--service', 's', '--mode', 'weird'], /'--mode <mode>'.*auto/],
      [['setup-service-overlay', '--service', ''], /'--service <name>'.*must not be empty/],
      [['release-ip', '10.0.0.256'], /argument 'ip'.*IP address/],
      [['attach-container', '--service', 'web'], /--pid <pid>, --windows-container <id> or/],
      [['detach-container'], /one of --pid <pid>, --windows-container <id> or --guest <id>/],
      [
        ['attach-container', '--service', 'web', '--pid', '1', '--guest', 'g'],
        /'--pid <pid>' cannot be used with option '--guest <id>'/,
      ],
      [
        ['detach-container', '--windows-container', 'c', '--guest', 'g'],
        /'--windows-container <id>' cannot be used with option '--guest <id>'/,
      ],
      [['detach-container', '--pid', '1', '--ip', '10.0.0.1'], /'--ip <ip>' needs --windows/],
      [['detach-container', '--pid', '0'], /'--pid <pid>'.*process id/],
      [['detach-container', '--pid', '4294967296'], /'--pid <pid>'/],
      [['detach-container', '--windows-container', 'c', '--ip', 'x'], /'--ip <ip>'/],
      [['attach-container', '--service', 'w', '--guest', 'g', '--dns-server', 'x'], /--dns-server/],
      [[...peer.slice(0, 4), 'nope', '--allowed-ips', '10.0.0.0/8'], /'--endpoint <host:port>'/],
      [[...peer.slice(0, 4), ':1', '--allowed-ips', '10.0.0.0/8'], /'--endpoint <host:port>'/],
      [[...peer.slice(0, 4), 'a:b:1', '--allowed-ips', '10.0.0.0/8'], /--endpoint/],
      [[...peer.slice(0, 4), '[nope]:1', '--allowed-ips', '10.0.0.0/8'], /--endpoint/],
      [[...peer.slice(0, 4), 'h:65536', '--allowed-ips', '10.0.0.0/8'], /--endpoint/],
      [[...peer.slice(0, 4), 'h:x', '--allowed-ips', '10.0.0.0/8'], /--endpoint/],
      [
        [...peer, '10.0.0.0/8, bad'],
        /'--allowed-ips <cidrs>'.*'bad' is not a CIDR; expected comma-separated CIDRs/,
      ],
      [[...peer, '10.0.0.0/8', '--keepalive', '-1'], /'--keepalive <secs>'/],
      [[...peer, '10.0.0.0/8', '--service', ' '], /'--service <name>'/],
      [['remove-peer'], /required option '--public-key <key>' not specified/],
      [['add-allowed-ip', '--public-key', 'k', '--cidr', '10/8'], /'--cidr <cidr>'/],
      [['register-dns', '--name', 'x', '--ip', 'nope'], /'--ip <ip>'/],
      [['unregister-dns'], /required option '--name <name>' not specified/],
      [['--attempts', '0', 'status'], /'--attempts <n>'.*attempt count/],
      [['--attempts', '1000001', 'status'], /'--attempts <n>'/],
      [['--timeout', 'soon', 'status'], /'--timeout <ms>'.*milliseconds/],
      [['--inspect-port', '65536', 'status'], /'--inspect-port <port>'.*port/],
      [['frobnicate'], /unknown command 'frobnicate'/],
      [['status', '--frob'], /unknown option '--frob'/],
      [['status', 'extra'], /too many arguments/],
      [['release-ip'], /missing required argument 'ip'/],
      [['call'], /missing required argument 'request'/],
    ];
    for (const [args, pattern] of cases) {
      const ran = await ctl(args);
      expect({ args, code: ran.code, stdout: ran.stdout }).toEqual({ args, code: 2, stdout: '' });
      expect(ran.stderr, args.join(' ')).toMatch(pattern);
    }
    expect(requests.length).toBe(before);
  });

  it('call: exit 2 on a request that is not valid JSON or not a request', async () => {
    const cases: Array<[string, RegExp]> = [
      ['{"op":"status"', /EOF while parsing an object/],
      ['{"op":"frobnicate"}', /unknown variant `frobnicate` for op/],
      ['{"op":"set_local_node_id","node_id":18446744073709551616}', /node_id/],
      ['[]', /expected an object, got array/],
    ];
    for (const [text, pattern] of cases) {
      const ran = await ctl(['call', text]);
      expect(ran.code).toBe(2);
      expect(ran.stdout).toBe('');
      expect(ran.stderr).toMatch(
        /^overlayctl: argument <request> is not a valid request: .*\[OVERLAYCTL_USAGE\]\n$/,
      );
      expect(ran.stderr).toMatch(pattern);
    }
  });
});

describe('overlayctl in process: requests', () => {
  const { both, pair } = cliPairs((args) => ctl(args));

  it('runs every op subcommand, plain and --json', async () => {
    let r = await both('set-local-node-id', '18446744073709551615');
    expect(r).toEqual({ human: 'ok\n', json: { result: 'ok' } });
    r = await both('set-local-wg-pubkey', 'bm9kZS1hLXB1YmxpYy1rZXktMzItYnl0ZXMtbG9uZyE=');
    expect(r).toEqual({ human: 'ok\n', json: { result: 'ok' } });

    r = await both(
      'setup-global-overlay',
      '--deployment',
      'prod',
      '--instance-id',
      'node-a',
      '--cluster-cidr',
      '10.200.0.0/16',
      '--slice-cidr',
      '10.200.0.0/24',
      '--wg-port',
      '51820',
      '--nat',
    );
    expect(r.json).toEqual({ result: 'bridge_name', name: expect.any(String) });
    expect(r.human).toBe(`name  ${r.json.name}\n`);

    r = await both('setup-service-overlay', '--service', 'web');
    expect(r.json).toEqual({ result: 'service_overlay', name: 'web', mode: 'shared' });
    expect(r.human).toBe('name  web\nmode  shared\n');
    r = await both('setup-service-overlay', '--service', 'db', '--mode', 'dedicated');
    expect(r.json).toMatchObject({ name: 'db', mode: 'dedicated', wg_port: 51821 });
    expect(r.human).toMatch(/^wg port +51821$/m);

    const allocated = await ctl(['allocate-ip', '--service', 'web', '--join-global']);
    expect(allocated).toMatchObject({ code: 0, stdout: expect.stringMatching(/^ip {2}10\.200\./) });
    const ip = allocated.stdout.trim().split(/\s+/)[1]!;
    const released = await ctl(['--json', 'release-ip', ip]);
    expect(released).toEqual({ code: 0, stdout: '{"result":"ok"}\n', stderr: '' });

    // A global peer first, so that the guest's config lists it.
    const key = 'cGVlci1iLWtleQ==';
    r = await both(
      'add-peer',
      '--public-key',
      key,
      '--endpoint',
      '198.51.100.7:51820',
      '--allowed-ips',
      '10.200.1.0/24 , 10.200.4.0/24',
      '--keepalive',
      '25',
    );
    expect(r.json).toEqual({ result: 'ok' });
    r = await both(
      'add-peer',
      '--public-key',
      'ZGItcGVlcg==',
      '--endpoint',
      '[fd00::7]:51820',
      '--allowed-ips',
      'fd00:201::/64',
      '--service',
      'db',
    );
    expect(r.json).toEqual({ result: 'ok' });
    r = await both('add-allowed-ip', '--public-key', key, '--cidr', '10.200.2.0/24');
    expect(r.json).toEqual({ result: 'ok' });
    r = await both('add-allowed-ip', '--public-key', key, '--cidr', '10.200.3.0/24');
    r = await pair(
      ['remove-allowed-ip', '--public-key', key, '--cidr', '10.200.2.0/24'],
      ['remove-allowed-ip', '--public-key', key, '--cidr', '10.200.3.0/24'],
    );
    expect(r).toEqual({ human: 'ok\n', json: { result: 'ok' } });
    r = await both(
      'add-allowed-ip',
      '--public-key',
      'ZGItcGVlcg==',
      '--cidr',
      '10.201.9.0/24',
      '--service',
      'db',
    );
    expect(r.json).toEqual({ result: 'ok' });

    const attach = ['attach-container', '--service', 'web'];
    const pid = await ctl([...attach, '--pid', '4242']);
    expect(pid.stdout).toMatch(/^ip {2}10\.200\.0\.\d+\n$/);
    const windows = await ctl([
      '--json',
      ...attach,
      '--windows-container',
      'c1',
      '--ip',
      '10.200.0.200',
    ]);
    expect(JSON.parse(windows.stdout)).toEqual({
      result: 'attached',
      ip: '10.200.0.200',
      namespace_guid: expect.any(String),
    });
    expect((await ctl([...attach, '--windows-container', 'c2'])).code).toBe(0);
    const guest = await ctl([
      ...attach,
      '--guest',
      'vm-1',
      '--join-global',
      '--dns-server',
      '10.200.0.1',
      '--dns-domain',
      'cluster.local',
    ]);
    expect(guest.code, guest.stderr).toBe(0);
    // A guest config: fields, the peer count, then the peers as a table.
    expect(guest.stdout).toMatch(/^overlay ip +10\.200\.0\.\d+$/m);
    expect(guest.stdout).toMatch(/^dns domain +cluster\.local$/m);
    expect(guest.stdout).toMatch(/^peers +1$/m);
    expect(guest.stdout).toMatch(/^ {2}PUBLIC KEY +ENDPOINT +ALLOWED IPS +PERSISTENT KEEPALIVE/m);
    expect(guest.stdout).toMatch(
      /^ {2}cGVlci1iLWtleQ== +198\.51\.100\.7:51820 +10\.200\.1\.0\/24,10\.200\.4\.0\/24 +25 s/m,
    );

    r = await both('nat-tick');
    expect(r.json).toEqual({ result: 'ok' });
    r = await both('register-dns', '--name', 'web.cluster.local', '--ip', 'fd00::1');
    expect(r.json).toEqual({ result: 'ok' });
    expect((await ctl(['unregister-dns', '--name', 'web.cluster.local'])).stdout).toBe('ok\n');

    const status = await ctl(['status']);
    expect(status.code).toBe(0);
    expect(status.stdout).toMatch(/^node ip +10\.200\.0\.1$/m);
    // A status has its counts already: no `peers  1` line, just the tables.
    expect(status.stdout).toMatch(/^peer count +1\nservice count +2$/m);
    expect(status.stdout).not.toMatch(/^peers +/m);
    expect(status.stdout).toMatch(/^ {2}PUBLIC KEY +ENDPOINT +ALLOWED IPS +LAST HANDSHAKE$/m);
    // The handshake as a UTC time.
    expect(status.stdout).toMatch(/^ {2}cGVlci1iLWtleQ== .* \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/m);
    expect(status.stdout).toMatch(/^ {2}SERVICE +INTERFACE +PUBLIC KEY +LISTEN PORT +OVERLAY IP/m);
    expect(status.stdout).toMatch(
      /^ {2}db +zl-svc-db0 +\S+ +51821 +10\.201\.0\.1 +10\.201\.0\.0\/24 +1$/m,
    );
    const statusJson = await ctl(['--json', 'status']);
    expect(JSON.parse(statusJson.stdout)).toMatchObject({
      result: 'status',
      peer_count: 1,
      // NAT is on: each of the two nat_ticks moved the peer to the next port.
      peers: [{ public_key: key, endpoint: '198.51.100.7:51822' }],
    });

    for (const handle of [
      ['--pid', '4242'],
      ['--windows-container', 'c1'],
      ['--windows-container', 'c2'],
      ['--guest', 'vm-1'],
    ]) {
      expect(await ctl(['detach-container', ...handle])).toEqual({
        code: 0,
        stdout: 'ok\n',
        stderr: '',
      });
    }
    r = await pair(
      ['remove-peer', '--public-key', key],
      ['remove-peer', '--public-key', 'ZGItcGVlcg==', '--service', 'db'],
    );
    expect(r).toEqual({ human: 'ok\n', json: { result: 'ok' } });
    r = await pair(
      ['teardown-service-overlay', '--service', 'db'],
      ['teardown-service-overlay', '--service', 'web'],
    );
    expect(r).toEqual({ human: 'ok\n', json: { result: 'ok' } });
    r = await both('teardown-global-overlay');
    expect(r.json).toEqual({ result: 'ok' });
    expect(requests).toContain('detach_container');
  });

  it('call sends any request as its JSON, u64s exact', async () => {
    const set = await ctl(['call', '{"op":"set_local_node_id","node_id":18446744073709551615}']);
    expect(set).toEqual({ code: 0, stdout: 'ok\n', stderr: '' });
    const status = await ctl(['--json', 'call', '{"op":"status"}']);
    expect(status.code).toBe(0);
    expect(status.stdout).toBe(
      '{"result":"status","public_key":"bm9kZS1hLXB1YmxpYy1rZXktMzItYnl0ZXMtbG9uZyE=","peer_count":0,"service_count":0}\n',
    );
  });

  it('exits 4 on an err answer: nothing on stdout, or the err response with --json', async () => {
    const request = ['call', '{"op":"unregister_dns","name":"nope"}'];
    const human = await ctl(request);
    expect(human).toEqual({
      code: 4,
      stdout: '',
      stderr:
        'overlayctl: overlayd error: no DNS record for "nope" (op unregister_dns, endpoint ' +
        `${socket}) [OVERLAYD_OVERLAY]\n`,
    });
    const json = await ctl(['--json', 'unregister-dns', '--name', 'nope']);
    expect(json.code).toBe(4);
    expect(JSON.parse(json.stdout)).toEqual({ result: 'err', message: 'no DNS record for "nope"' });
  });

  it('exits 3 when nothing listens, after the attempts asked for', async () => {
    const dead = join(dir, 'nobody.sock');
    const once = await ctl(['status'], { socket: dead });
    expect(once).toEqual({
      code: 3,
      stdout: '',
      stderr: `overlayctl: could not connect to overlayd after 1 attempt: io error: connect ENOENT ${dead} (endpoint ${dead}) [OVERLAYD_CONNECT]\n`,
    });
    const twice = await ctl(['--attempts', '2', '--json', 'status'], { socket: dead });
    expect(twice.code).toBe(3);
    expect(twice.stderr).toMatch(/^overlayctl: could not connect to overlayd after 2 attempts/);
  });

  it('on a terminal, shows each connect attempt and backoff on stderr, coloured unless NO_COLOR', async () => {
    const dead = join(dir, 'nobody.sock');
    vi.stubEnv('NO_COLOR', '');
    const coloured = await ctl(['--attempts', '2', 'status'], { socket: dead, tty: true });
    expect(coloured.code).toBe(3);
    expect(coloured.stderr).toContain(`\x1b[2mconnecting to ${dead}\x1b[22m\n`);
    expect(coloured.stderr).toContain('\x1b[2m  connecting  attempt 1/2\x1b[22m\n');
    expect(coloured.stderr).toMatch(
      /\x1b\[33m {2}backoff +next attempt 2\/2 in 100 ms {2}\(io error: connect ENOENT .*\)\x1b\[39m\n/,
    );
    expect(coloured.stderr).toContain('  connecting  attempt 2/2');
    expect(coloured.stderr).toMatch(/overlayctl: could not connect to overlayd after 2 attempts/);

    vi.stubEnv('NO_COLOR', '1');
    const monochrome = await ctl(['--attempts', '2', 'status'], { socket: dead, tty: true });
    expect(monochrome.stderr).not.toMatch(ANSI);
    expect(monochrome.stderr).toBe(plain(coloured.stderr));

    // Connected at once: one attempt shown, the answer on stdout (no colours in answers).
    vi.stubEnv('NO_COLOR', '');
    const ok = await ctl(['status'], { tty: true });
    expect(ok.code).toBe(0);
    expect(plain(ok.stderr)).toBe(`connecting to ${socket}\n  connecting  attempt 1/1\n`);
    expect(ok.stdout).toMatch(/^peer count +\d+$/m);
    expect(ok.stdout).not.toMatch(ANSI);
  });

  it('exits 3 when overlayd does not answer within --timeout', async () => {
    const silent = await startScriptedServer(() => ({ silent: true }));
    try {
      const ran = await ctl(['--timeout', '50', 'status'], { socket: silent.endpoint });
      expect(ran.code).toBe(3);
      expect(ran.stdout).toBe('');
      expect(ran.stderr).toMatch(
        /^overlayctl: request timed out after 50 ms \(op status, .*\) \[OVERLAYD_TIMEOUT\]\n$/,
      );
    } finally {
      await silent.dispose();
    }
  });

  it('exits 5 when the answer breaks the protocol, or cannot be decoded', async () => {
    // `ok` is not an answer allocate_ip may get.
    const wrong = await startScriptedServer((request) => ({
      frames: [
        request.request.op === 'allocate_ip'
          ? { frame: 'response', id: request.id, response: { result: 'ok' } }
          : successFor(request),
      ],
    }));
    const garbledPath = join(dir, 'garbled.sock');
    const garbled = createServer((conn) => {
      conn.once('data', () => {
        const body = '{"frame":"response","id":1,"response":{"result":"teapot"}}';
        const prefix = Buffer.alloc(4);
        prefix.writeUInt32LE(Buffer.byteLength(body));
        conn.end(Buffer.concat([prefix, Buffer.from(body)]));
      });
    });
    await listening(garbled, garbledPath);
    try {
      const ran = await ctl(['allocate-ip', '--service', 'web'], { socket: wrong.endpoint });
      expect(ran.code).toBe(5);
      expect(ran.stdout).toBe('');
      expect(ran.stderr).toMatch(
        /^overlayctl: .*answered op allocate_ip with result ok.*\[OVERLAYD_PROTOCOL\]\n$/,
      );
      // The scripted server answers the other ops as overlayd would.
      expect((await ctl(['status'], { socket: wrong.endpoint })).code).toBe(0);

      const bad = await ctl(['--json', 'status'], { socket: garbledPath });
      expect(bad.code).toBe(5);
      expect(bad.stdout).toBe('');
      expect(bad.stderr).toMatch(/could not be decoded.*\[OVERLAYD_CODEC\]\n$/);
    } finally {
      await wrong.dispose();
      await new Promise((resolve) => garbled.close(resolve));
    }
  });
});

describe('overlayctl in process: watch', () => {
  /** Sets up the global overlay and adds a peer: overlayd pushes peer_health_changed. */
  async function makeEvent(pubkey: string): Promise<void> {
    expect((await ctl(['teardown-global-overlay'])).code).toBe(0);
    const setup = await ctl([
      'setup-global-overlay',
      '--deployment',
      'w',
      '--instance-id',
      'i',
      '--cluster-cidr',
      '10.9.0.0/16',
      '--wg-port',
      '51820',
    ]);
    expect(setup.code, setup.stderr).toBe(0);
    const add = [
      'add-peer',
      '--public-key',
      pubkey,
      '--endpoint',
      '192.0.2.1:1',
      '--allowed-ips',
      '10.9.1.0/24',
    ];
    expect((await ctl(add)).code).toBe(0);
  }

  it('streams state changes and events until SIGINT, plain and --json, then exits 0', async () => {
    const human = start(['--socket', socket, 'watch']);
    const json = start(['--socket', socket, '--json', 'watch']);
    await until(
      () => /state {2}connected/.test(human.out.stdout) && json.out.stdout.includes('"connected"'),
      'both watchers to connect',
    );
    expect(process.listenerCount('SIGINT')).toBe(baseline.SIGINT + 2);
    await makeEvent('d2F0Y2g=');
    await until(
      () =>
        human.out.stdout.includes('peer_health_changed') &&
        json.out.stdout.includes('"peer_health_changed"'),
      'the event',
    );
    interrupt();
    expect(await human.done).toBe(0);
    expect(await json.done).toBe(0);
    expect(human.out.stderr).toBe('');
    expect(json.out.stderr).toBe('');

    const lines = human.out.stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^\d\d:\d\d:\d\d\.\d{3} {2}state {2}connecting +attempt 1\/20$/);
    expect(lines[1]).toMatch(/^\d\d:\d\d:\d\d\.\d{3} {2}state {2}connected$/);
    expect(human.out.stdout).toMatch(
      /^\d\d:\d\d:\d\d\.\d{3} {2}event {2}peer_health_changed +pubkey=d2F0Y2g= healthy=true$/m,
    );
    expect(lines.at(-1)).toMatch(/state {2}closed$/);
    expect(human.out.stdout).not.toMatch(ANSI);

    const records = json.out.stdout
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line));
    expect(records[0]).toEqual({
      time: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
      state: 'connecting',
      attempt: 1,
      max_attempts: 20,
      queued: 0,
    });
    expect(records[1]).toMatchObject({ state: 'connected' });
    expect(records).toContainEqual({
      event: 'peer_health_changed',
      pubkey: 'd2F0Y2g=',
      healthy: true,
    });
    expect(records.at(-1)).toMatchObject({ state: 'closed' });
    expect((await ctl(['teardown-global-overlay'])).code).toBe(0);
  });

  it('on a terminal, colours states and events unless NO_COLOR is set in its env', async () => {
    const coloured = start(['--socket', socket, 'watch'], { tty: true, env: {} });
    const monochrome = start(['--socket', socket, 'watch'], { tty: true, env: { NO_COLOR: '1' } });
    await until(
      () =>
        plain(coloured.out.stdout).includes('connected') &&
        monochrome.out.stdout.includes('connected'),
      'both watchers to connect',
    );
    await makeEvent('Y29sb3Vy');
    await until(
      () =>
        coloured.out.stdout.includes('peer_health') &&
        monochrome.out.stdout.includes('peer_health'),
      'the event',
    );
    interrupt();
    expect(await coloured.done).toBe(0);
    expect(await monochrome.done).toBe(0);
    expect(coloured.out.stdout).toMatch(
      /^\x1b\[2m\d\d:\d\d:\d\d\.\d{3}\x1b\[22m {2}state {2}\x1b\[32mconnected/m,
    );
    expect(coloured.out.stdout).toContain('\x1b[36mpeer_health_changed');
    expect(monochrome.out.stdout).not.toMatch(ANSI);
    // The same text, but for the colours (and the padding trimEnd cannot see behind them).
    const text = (out: string) =>
      plain(out)
        .replace(/\d\d:\d\d:\d\d\.\d{3}/g, 'T')
        .replace(/ +$/gm, '');
    expect(text(coloured.out.stdout)).toBe(text(monochrome.out.stdout));
    expect(text(monochrome.out.stdout)).toBe(
      monochrome.out.stdout.replace(/\d\d:\d\d:\d\d\.\d{3}/g, 'T'),
    );
    expect((await ctl(['teardown-global-overlay'])).code).toBe(0);
  });

  it('rides out overlayd going away: backs off, gives up a cycle, starts another', async () => {
    const path = join(dir, 'flaky.sock');
    let flaky = await startOverlayd({ socket: path, serve: { group: null } });
    // One attempt per cycle: it fails, and starts a new cycle a second later.
    const human = start(['--socket', path, '--attempts', '1', 'watch']);
    // 20 attempts per cycle: it reconnects within the cycle.
    const json = start(['--socket', path, '--json', 'watch']);
    try {
      await until(
        () => human.out.stdout.includes('connected') && json.out.stdout.includes('"connected"'),
        'both watchers to connect',
      );
      await flaky.close();
      await until(() => /state {2}failed/.test(human.out.stdout), 'the one-attempt cycle to fail');
      flaky = await startOverlayd({ socket: path, serve: { group: null } });
      await until(
        () =>
          (human.out.stdout.match(/state {2}connected/g) ?? []).length === 2 &&
          json.out.stdout.includes('"reconnected"'),
        'both watchers to reconnect',
        5_000,
      );
    } finally {
      interrupt();
      await flaky.close();
    }
    expect(await human.done).toBe(0);
    expect(await json.done).toBe(0);
    expect(human.out.stdout).toMatch(
      /state {2}backoff +next attempt 1\/1 in 100 ms {2}\(connection closed by peer\)$/m,
    );
    expect(human.out.stdout).toMatch(
      /state {2}failed +gave up after 1 attempt {2}\(io error: connect ENOENT .*\)$/m,
    );
    const records = json.out.stdout
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line));
    expect(records).toContainEqual(
      expect.objectContaining({
        state: 'backoff',
        next_delay_ms: 100,
        last_error: expect.any(String),
      }),
    );
    expect(records).toContainEqual({ event: 'reconnected', endpoint: path });
  });

  it('exits 3 when it cannot connect at all', async () => {
    const dead = join(dir, 'nobody.sock');
    const out = capture();
    expect(await runCli(['--socket', dead, '--attempts', '1', 'watch'], out.io)).toBe(3);
    expect(out.stdout).toMatch(/state {2}connecting +attempt 1\/1\n/);
    expect(out.stdout).toMatch(
      /state {2}failed +gave up after 1 attempt {2}\(io error: connect ENOENT/,
    );
    expect(out.stderr).toMatch(/^overlayctl: could not connect to overlayd after 1 attempt/);
  });

  it('Ctrl-C while it is still trying to connect stops it, exit 0', async () => {
    const dead = join(dir, 'nobody.sock');
    const watch = start(['--socket', dead, 'watch']);
    await until(() => /state {2}backoff/.test(watch.out.stdout), 'the first backoff');
    interrupt();
    expect(await watch.done).toBe(0);
    expect(watch.out.stderr).toBe('');
    expect(watch.out.stdout).toMatch(
      /state {2}backoff +next attempt 2\/20 in 100 ms {2}\(io error: connect ENOENT .*\)\n/,
    );
    expect(watch.out.stdout).toMatch(/state {2}closed\n$/);
  });

  it('--ui serves the visualizer with the live connection, and stops it on SIGINT', async () => {
    const watch = start(['--socket', socket, 'watch', '--ui']);
    await until(() => /state {2}connected/.test(watch.out.stdout), 'the watcher to connect');
    const url = new URL(/visualizer: open (\S+)\n/.exec(watch.out.stderr)?.[1] ?? 'http://x');
    expect(url.hostname).toBe('127.0.0.1');
    expect((await fetch(url)).status).toBe(200);
    const state = await fetch(new URL(`/state.json${url.search}`, url));
    expect(JSON.stringify(await state.json())).toContain('connected');
    expect((await fetch(new URL('/state.json', url))).status).toBe(403);
    interrupt();
    expect(await watch.done).toBe(0);
    await expect(fetch(url)).rejects.toThrow();
  });
});

describe('overlayctl in process: --inspect (the local Stately relay)', () => {
  /** The relay page's URL from the notice on stderr. */
  function relayUrl(stderr: string): URL {
    const found = /Stately inspector relay: open (\S+)\n/.exec(stderr)?.[1];
    if (found === undefined) throw new Error(`no relay URL in: ${stderr}`);
    return new URL(found);
  }

  /** Connects to the relay as its page does and collects what it forwards (it replays what it kept). */
  async function relayed(page: URL): Promise<string[]> {
    const messages: string[] = [];
    const ws = new WebSocket(`ws://${page.host}/ws${page.search}`, { origin: page.origin });
    ws.on('message', (data) => messages.push(String(data)));
    await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
    await until(() => messages.some((m) => m.includes('connected')), 'relayed snapshots');
    ws.close();
    return messages;
  }

  it('a request sends its state to the relay, which lingers until SIGINT', async () => {
    const port = await freePort();
    const run = start(['--socket', socket, '--inspect', '--inspect-port', String(port), 'status']);
    await until(() => run.out.stderr.includes('press Ctrl-C'), 'the request to finish');
    const page = relayUrl(run.out.stderr);
    expect(page.origin).toBe(`http://127.0.0.1:${port}`);
    expect(page.searchParams.get('token')).toMatch(/^[0-9a-f]{32}$/);
    expect(run.out.stderr).toBe(
      [
        `Stately inspector relay: open ${page.href}`,
        '  (the page embeds https://stately.ai/inspect and needs internet access;',
        '   the relay listens on 127.0.0.1 only, and the link carries its token)',
        'done; press Ctrl-C to stop the inspector relay',
        '',
      ].join('\n'),
    );
    expect(run.out.stdout).toMatch(/^peer count +\d+$/m);
    // The relay's page embeds the inspector (which we do not load: it needs internet).
    const html = await (await fetch(page)).text();
    expect(html).toContain('<iframe id="inspector" src="https://stately.ai/inspect">');
    // Without the token there is nothing to read.
    expect((await fetch(`http://127.0.0.1:${port}/`)).status).toBe(403);
    const messages = await relayed(page);
    expect(messages.some((m) => m.includes('"@xstate.snapshot"'))).toBe(true);
    interrupt();
    expect(await run.done).toBe(0);
    // The relay is gone: the port can be taken again.
    await (await startStatelyInspector(port)).stop();
  });

  it('watch --inspect --ui feeds both; watch --inspect alone feeds the relay', async () => {
    const [p1, p2] = [await freePort(), await freePort()];
    const both = start([
      '--socket',
      socket,
      '--inspect',
      '--inspect-port',
      String(p1),
      'watch',
      '--ui',
    ]);
    const relay = start(['--socket', socket, '--inspect', '--inspect-port', String(p2), 'watch']);
    await until(
      () => both.out.stdout.includes('connected') && relay.out.stdout.includes('connected'),
      'both watchers to connect',
    );
    expect(relayUrl(both.out.stderr).port).toBe(String(p1));
    const url = new URL(/visualizer: open (\S+)\n/.exec(both.out.stderr)?.[1] ?? 'http://x');
    const state = await fetch(new URL(`/state.json${url.search}`, url));
    expect(JSON.stringify(await state.json())).toContain('connected');
    expect((await relayed(relayUrl(both.out.stderr))).length).toBeGreaterThan(0);
    expect((await relayed(relayUrl(relay.out.stderr))).length).toBeGreaterThan(0);
    interrupt();
    expect(await both.done).toBe(0);
    expect(await relay.done).toBe(0);
    // Watch does not linger.
    expect(relay.out.stderr).not.toContain('press Ctrl-C');
  });

  it('exits 1 with a clear message when the relay port is taken', async () => {
    const busy = createServer();
    await new Promise<void>((resolve) => busy.listen(0, resolve));
    const { port } = busy.address() as AddressInfo;
    try {
      const before = requests.length;
      const ran = await ctl(['--inspect', '--inspect-port', String(port), 'status']);
      expect(ran).toMatchObject({ code: 1, stdout: '' });
      expect(ran.stderr).toMatch(
        new RegExp(
          `^overlayctl: cannot start the Stately inspector relay on port ${port}: listen EADDRINUSE: address already in use \\S*:${port}\n$`,
        ),
      );
      // Nothing was sent: the relay starts before the client connects.
      expect(requests.length).toBe(before);
    } finally {
      await new Promise((resolve) => busy.close(resolve));
    }
  });
});

describe('overlayctl in process: serve', () => {
  it('serves on the default socket until a shutdown request, logging each request', async () => {
    const dataDir = join(dir, 'serve-data');
    const env = { ZLAYER_DATA_DIR: dataDir };
    const endpoint = join(dataDir, 'run', 'zlayer-overlayd.sock');
    const serve = start(['serve'], { env });
    await until(() => serve.out.stderr.includes('listening on'), 'serve to listen');
    expect(serve.out.stderr).toMatch(
      new RegExp(
        `^\\d{4}-\\d\\d-\\d\\dT\\S+Z overlayd: simulated engine listening on ${endpoint} \\(pid ${process.pid}\\)\n$`,
      ),
    );
    const client = capture({ env });
    expect(await runCli(['status'], client.io)).toBe(0);
    expect(client.stdout).toMatch(/^peer count +0$/m);
    expect(await runCli(['shutdown'], client.io)).toBe(0);
    expect(await serve.done).toBe(0);
    expect(serve.out.stdout).toBe('');
    expect(serve.out.stderr).toMatch(/overlayd: connection \d+ request \d+ status\n/);
    expect(serve.out.stderr).toMatch(/overlayd: connection \d+ request \d+ shutdown\n/);
    expect(serve.out.stderr).toMatch(/overlayd: stopped \(shutdown request\)\n$/);
  });

  it('stops on SIGINT', async () => {
    const path = join(dir, 'serve-int.sock');
    const serve = start(['--socket', path, 'serve']);
    await until(() => serve.out.stderr.includes('listening on'), 'serve to listen');
    interrupt();
    expect(await serve.done).toBe(0);
    expect(serve.out.stderr).toMatch(/overlayd: stopped \(SIGINT\)\n$/);
    // The socket file is gone: nothing answers there.
    expect((await ctl(['status'], { socket: path })).stderr).toContain('ENOENT');
  });

  it('exits 3 when the socket path is taken by a file', async () => {
    const path = join(dir, 'not-a-socket');
    await writeFile(path, 'x');
    const ran = await ctl(['serve'], { socket: path });
    expect(ran.code).toBe(3);
    expect(ran.stdout).toBe('');
    expect(ran.stderr).toMatch(
      /^overlayctl: .*refusing to replace .*not-a-socket: it exists and is not a socket/,
    );
  });
});

describe('overlayctl output: what the simulated overlayd does not produce', () => {
  const response = (json: string) => decodeWire('OverlaydResponse', json);

  it('an err answer reads as an error line', () => {
    expect(formatResponse(response('{"result":"err","message":"nope"}'))).toBe('error: nope');
  });

  it('a peer never handshaken reads "never"; keepalive 0 reads "off"; empty arrays no table', () => {
    const status = formatResponse(
      response(
        '{"result":"status","peer_count":1,"service_count":0,"peers":[{"public_key":"k","endpoint":"","allowed_ips":"10.0.0.0/8","last_handshake_unix_secs":0}]}',
      ),
    );
    expect(status).toBe(
      [
        'peer count     1',
        'service count  0',
        '',
        '  PUBLIC KEY  ENDPOINT  ALLOWED IPS  LAST HANDSHAKE',
        '  k                     10.0.0.0/8   never',
      ].join('\n'),
    );
    const guest = formatResponse(
      response(
        '{"result":"guest_config","overlay_ip":"10.0.0.2","prefix_len":24,"private_key":"p","public_key":"q","listen_port":51820,"peers":[{"public_key":"k","endpoint":"h:1","allowed_ips":"10.0.0.0/8","persistent_keepalive_secs":0}]}',
      ),
    );
    expect(guest).toMatch(/^peers +1$/m);
    expect(guest).toMatch(/^ {2}k +h:1 +10\.0\.0\.0\/8 +off$/m);
    const lonely = formatResponse(
      response(
        '{"result":"guest_config","overlay_ip":"10.0.0.2","prefix_len":24,"private_key":"p","public_key":"q","listen_port":51820,"peers":[]}',
      ),
    );
    expect(lonely).toMatch(/^peers +0$/m);
    expect(lonely).not.toContain('PUBLIC KEY  ENDPOINT');
  });

  it('toJson writes bigints as bare numbers, exactly', () => {
    expect(toJson({ id: 18446744073709551615n, list: [1n, 'x', 2], big: 'big0' })).toBe(
      '{"id":18446744073709551615,"list":[1,"x",2],"big":"big0"}',
    );
  });
});
