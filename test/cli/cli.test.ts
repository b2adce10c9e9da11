/**
 * overlayctl end to end: the built CLI against a real `overlayctl serve`
 * child process on a temporary socket.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cliPairs } from '../support/cli-runs.js';
import { CLI, mapLimited, type Ran, runNode, startNode } from '../support/run-node.js';

let dir: string;
let socket: string;
let server: ReturnType<typeof startNode>;

const ctl = (...args: string[]): Promise<Ran> => runNode(CLI, ['--socket', socket, ...args]);

const { both, pair } = cliPairs((args) => ctl(...args), { concurrent: true });

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'overlayctl-test-'));
  socket = join(dir, 'overlayd.sock');
  server = startNode(CLI, ['serve', '--socket', socket]);
  await server.until((out) => out.stderr.includes('listening on'));
});

afterAll(async () => {
  if (server.child.exitCode === null) server.child.kill('SIGKILL');
  await rm(dir, { recursive: true, force: true });
});

describe('overlayctl', { timeout: 60_000 }, () => {
  it('documents the exit codes in --help, on every command', async () => {
    const [root, sub] = await Promise.all([
      runNode(CLI, ['--help']),
      runNode(CLI, ['setup-global-overlay', '--help']),
    ]);
    for (const help of [root, sub]) {
      expect(help.code).toBe(0);
      expect(help.stdout).toContain('Exit codes:');
      expect(help.stdout).toContain('4  overlayd answered the request with an error');
    }
    expect(root.stdout).toContain('attach-container');
    expect(sub.stdout).toContain('--cluster-cidr <cidr>');
    expect(sub.stdout).toContain('--socket <path>');
  });

  it('exits 4 on an err answer, printing the err response with --json', async () => {
    const [human, json] = await Promise.all([
      ctl('allocate-ip', '--service', 'web'),
      ctl('--json', 'allocate-ip', '--service', 'web'),
    ]);
    expect(human.code).toBe(4);
    expect(human.stdout).toBe('');
    expect(human.stderr).toMatch(
      /^overlayctl: overlayd error: global overlay not set up .*\[OVERLAYD_OVERLAY\]\n$/,
    );
    expect(json.code).toBe(4);
    expect(JSON.parse(json.stdout)).toEqual({
      result: 'err',
      message: 'global overlay not set up',
    });
  });

  it('exits 2 on bad arguments, naming the argument', async () => {
    const cases: Array<[string[], RegExp]> = [
      [['set-local-node-id', '18446744073709551616'], /argument 'id'.*u64/],
      [['set-local-node-id', '12x'], /argument 'id'/],
      [
        ['setup-global-overlay', '--deployment', 'd', '--instance-id', 'i', '--wg-port', '1'],
        /--cluster-cidr/,
      ],
      [
        [
          'setup-global-overlay',
          '--deployment',
          'd',
          '--instance-id',
          'i',
          '--cluster-cidr',
          '10.0.0.0/8',
          '--wg-port',
          '70000',
        ],
        /option '--wg-port <port>' argument '70000' is invalid/,
      ],
      [
        [
          'setup-global-overlay',
          '--deployment',
          'd',
          '--instance-id',
          'i',
          '--cluster-cidr',
          '10.0.0.0/33',
          '--wg-port',
          '1',
        ],
        /--cluster-cidr/,
      ],
      [['setup-service-overlay', '--service', 's', '--mode', 'weird'], /--mode/],
      [['release-ip', '10.0.0.256'], /argument 'ip'/],
      [
        ['attach-container', '--service', 'web'],
        /--pid <pid>, --windows-container <id> or --guest <id>/,
      ],
      [
        ['attach-container', '--service', 'web', '--pid', '1', '--guest', 'g'],
        /'--pid <pid>' cannot be used with option '--guest <id>'/,
      ],
      [
        ['attach-container', '--service', 'web', '--pid', '1', '--ip', '10.0.0.1'],
        /'--ip <ip>' needs --windows-container/,
      ],
      [['attach-container', '--service', 'web', '--pid', '-3'], /--pid/],
      [
        ['add-peer', '--public-key', 'k', '--endpoint', 'nope', '--allowed-ips', '10.0.0.0/8'],
        /--endpoint/,
      ],
      [
        ['add-peer', '--public-key', 'k', '--endpoint', 'h:1', '--allowed-ips', '10.0.0.0/8,bad'],
        /--allowed-ips/,
      ],
      [
        [
          'add-peer',
          '--public-key',
          'k',
          '--endpoint',
          'h:1',
          '--allowed-ips',
          '10.0.0.0/8',
          '--keepalive',
          '-1',
        ],
        /--keepalive/,
      ],
      [['register-dns', '--name', 'x', '--ip', 'nope'], /--ip/],
      [['--attempts', '0', 'status'], /--attempts/],
      [['--timeout', 'soon', 'status'], /--timeout/],
      [['frobnicate'], /unknown command 'frobnicate'/],
      [['status', 'extra'], /too many arguments/],
      [['call', '{"op":"status"'], /<request>.*EOF while parsing an object/],
      [['call', '{"op":"frobnicate"}'], /<request>.*op/],
      [['call', '{"op":"set_local_node_id","node_id":18446744073709551616}'], /<request>.*node_id/],
      [[], /Usage: overlayctl/],
    ];
    const results = await mapLimited(cases, 4, ([args]) => ctl(...args));
    results.forEach((result, i) => {
      const [args, pattern] = cases[i]!;
      expect({ args, code: result.code }).toEqual({ args, code: 2 });
      expect(result.stderr).toMatch(pattern);
      expect(result.stdout).toBe('');
    });
  });

  it('exits 3 when nothing listens on the socket', async () => {
    const dead = join(dir, 'nobody.sock');
    const [plain, retried] = await Promise.all([
      runNode(CLI, ['--socket', dead, 'status']),
      runNode(CLI, ['--socket', dead, '--attempts', '2', '--json', 'status']),
    ]);
    expect(plain.code).toBe(3);
    expect(plain.stderr).toBe(
      `overlayctl: could not connect to overlayd after 1 attempt: io error: connect ENOENT ${dead} (endpoint ${dead}) [OVERLAYD_CONNECT]\n`,
    );
    expect(retried.code).toBe(3);
    expect(retried.stderr).toContain('after 2 attempts');
    expect(retried.stdout).toBe('');
  });

  it('exits 5 when the answer breaks the protocol', async () => {
    const fakeSocket = join(dir, 'fake.sock');
    // Answers every request with `ip` (wrong for status) or with an undecodable body.
    let bad = false;
    const fake: Server = createServer((conn) => {
      conn.once('data', (chunk) => {
        const id = /"id":(\d+)/.exec(chunk.toString())?.[1] ?? '1';
        const body = bad
          ? `{"frame":"response","id":${id},"response":{"result":"teapot"}}`
          : `{"frame":"response","id":${id},"response":{"result":"ip","ip":"10.0.0.1"}}`;
        const prefix = Buffer.alloc(4);
        prefix.writeUInt32LE(Buffer.byteLength(body));
        conn.end(Buffer.concat([prefix, Buffer.from(body)]));
      });
    });
    await new Promise<void>((resolve) => fake.listen(fakeSocket, resolve));
    try {
      const wrong = await runNode(CLI, ['--socket', fakeSocket, 'status']);
      bad = true;
      const garbled = await runNode(CLI, ['--socket', fakeSocket, 'status']);
      expect(wrong.code).toBe(5);
      expect(wrong.stderr).toMatch(/answered op status with result ip.*\[OVERLAYD_PROTOCOL\]/);
      expect(garbled.code).toBe(5);
      expect(garbled.stderr).toMatch(/could not be decoded.*\[OVERLAYD_CODEC\]/);
    } finally {
      await new Promise((resolve) => fake.close(resolve));
    }
  });

  it('runs every op subcommand, plain and --json', async () => {
    // The node: exact u64 ids, beyond 2^53.
    let r = await both('set-local-node-id', '18446744073709551615');
    expect(r.human).toBe('ok\n');
    expect(r.json).toEqual({ result: 'ok' });
    r = await both('set-local-wg-pubkey', 'bm9kZS1hLXB1YmxpYy1rZXktMzItYnl0ZXMtbG9uZyE=');
    expect(r.json).toEqual({ result: 'ok' });

    const setup = ['setup-global-overlay', '--deployment', 'prod', '--instance-id', 'node-a'];
    r = await both(
      ...setup,
      '--cluster-cidr',
      '10.200.0.0/16',
      '--slice-cidr',
      '10.200.0.0/24',
      '--wg-port',
      '51820',
      '--nat',
    );
    expect(r.json).toMatchObject({ result: 'bridge_name', name: expect.any(String) });
    expect(r.human).toBe(`name  ${r.json.name}\n`);

    r = await both('setup-service-overlay', '--service', 'web', '--mode', 'shared');
    expect(r.json).toEqual({ result: 'service_overlay', name: 'web', mode: 'shared' });
    expect(r.human).toMatch(/^name {2}web\nmode {2}shared\n$/);
    r = await both('setup-service-overlay', '--service', 'db', '--mode', 'dedicated');
    expect(r.json).toMatchObject({
      name: 'db',
      mode: 'dedicated',
      wg_port: expect.any(Number),
      subnet: expect.any(String),
    });
    expect(r.human).toMatch(/^wg public key +\S+$/m);

    r = await both('allocate-ip', '--service', 'web', '--join-global');
    expect(r.json).toMatchObject({ result: 'ip', ip: expect.stringMatching(/^10\.200\.0\.\d+$/) });
    expect(r.human).toMatch(/^ip {2}10\.200\.0\.\d+\n$/);
    const humanIp = r.human.trim().split(/\s+/)[1]!;
    r = await pair(['release-ip', humanIp], ['release-ip', r.json.ip as string]);
    expect(r.human).toBe('ok\n');
    expect(r.json).toEqual({ result: 'ok' });

    const attach = ['attach-container', '--service', 'web'];
    r = await pair([...attach, '--pid', '4242'], [...attach, '--pid', '4243']);
    expect(r.human).toMatch(/^ip {2}10\.200\.0\.\d+\n$/);
    expect(r.json).toMatchObject({ result: 'attached', ip: expect.any(String) });
    r = await pair(
      [...attach, '--windows-container', 'c1'],
      [...attach, '--windows-container', 'c2', '--ip', '10.200.0.200'],
    );
    expect(r.json).toMatchObject({ result: 'attached', ip: '10.200.0.200' });
    const guest = ['--join-global', '--dns-server', '10.200.0.1', '--dns-domain', 'cluster.local'];
    r = await pair(
      [...attach, '--guest', 'vm-1', ...guest],
      [...attach, '--guest', 'vm-2', ...guest],
    );
    expect(r.json).toMatchObject({
      result: 'guest_config',
      prefix_len: 24,
      listen_port: 51820,
      dns_server: '10.200.0.1',
      dns_domain: 'cluster.local',
      peers: [],
    });
    expect(r.human).toMatch(/^overlay ip +10\.200\.0\.\d+$/m);
    expect(r.human).toMatch(/^dns domain +cluster\.local$/m);
    const handles = [
      ['--pid', '4242', '4243'],
      ['--windows-container', 'c1', 'c2'],
      ['--guest', 'vm-1', 'vm-2'],
    ] as const;
    for (const [kind, first, second] of handles) {
      r = await pair(['detach-container', kind, first], ['detach-container', kind, second]);
      expect(r.human).toBe('ok\n');
      expect(r.json).toEqual({ result: 'ok' });
    }

    const peer = ['--public-key', 'cGVlci1iLWtleQ==', '--endpoint', '198.51.100.7:51820'];
    r = await both('add-peer', ...peer, '--allowed-ips', '10.200.1.0/24', '--keepalive', '25');
    expect(r.json).toEqual({ result: 'ok' });
    r = await both('add-peer', ...peer, '--allowed-ips', '10.201.9.0/24', '--service', 'db');
    expect(r.json).toEqual({ result: 'ok' });
    r = await both('add-allowed-ip', '--public-key', 'cGVlci1iLWtleQ==', '--cidr', '10.200.2.0/24');
    expect(r.json).toEqual({ result: 'ok' });

    r = await both('status');
    expect(r.json).toMatchObject({
      result: 'status',
      node_ip: '10.200.0.1',
      slice_cidr: '10.200.0.0/24',
      peer_count: 1,
      peers: [
        {
          public_key: 'cGVlci1iLWtleQ==',
          endpoint: '198.51.100.7:51820',
          allowed_ips: '10.200.1.0/24,10.200.2.0/24',
        },
      ],
    });
    expect(r.human).toMatch(/^node ip +10\.200\.0\.1$/m);
    expect(r.human).toMatch(/^ {2}PUBLIC KEY +ENDPOINT +ALLOWED IPS +LAST HANDSHAKE$/m);
    expect(r.human).toMatch(
      /^ {2}cGVlci1iLWtleQ== +198\.51\.100\.7:51820 +10\.200\.1\.0\/24,10\.200\.2\.0\/24 +\d{4}-/m,
    );

    r = await pair(
      ['remove-allowed-ip', '--public-key', 'cGVlci1iLWtleQ==', '--cidr', '10.200.2.0/24'],
      ['add-allowed-ip', '--public-key', 'cGVlci1iLWtleQ==', '--cidr', '10.200.3.0/24'],
    );
    r = await both('nat-tick');
    expect(r.json).toEqual({ result: 'ok' });
    r = await both('register-dns', '--name', 'web.cluster.local', '--ip', '10.200.0.9');
    expect(r.json).toEqual({ result: 'ok' });
    r = await pair(
      ['unregister-dns', '--name', 'web.cluster.local'],
      ['register-dns', '--name', 'x', '--ip', 'fd00::1'],
    );
    r = await pair(
      ['--json', 'unregister-dns', '--name', 'x'],
      ['remove-allowed-ip', '--public-key', 'cGVlci1iLWtleQ==', '--cidr', '10.200.3.0/24'],
    );
    r = await pair(
      ['remove-peer', '--public-key', 'cGVlci1iLWtleQ=='],
      ['remove-peer', '--public-key', 'cGVlci1iLWtleQ==', '--service', 'db'],
    );
    expect(r.human).toBe('ok\n');
    expect(r.json).toEqual({ result: 'ok' });
    r = await pair(
      ['teardown-service-overlay', '--service', 'db'],
      ['teardown-service-overlay', '--service', 'web'],
    );
    r = await pair(['teardown-global-overlay'], ['teardown-global-overlay']);
    expect(r.json).toEqual({ result: 'ok' });
  }, 60_000); // some 26 CLI processes, each a node start-up: more than the default 20 s on a slow machine

  it('sends raw JSON requests with call, u64s exact', async () => {
    const r = await both('call', '{"op":"set_local_node_id","node_id":18446744073709551615}');
    expect(r.json).toEqual({ result: 'ok' });
    const status = await ctl('--json', 'call', '{"op":"status"}');
    expect(status.code).toBe(0);
    // Exactly the encoder's output: serde field order, absent fields left out.
    expect(status.stdout).toBe(
      '{"result":"status","public_key":"bm9kZS1hLXB1YmxpYy1rZXktMzItYnl0ZXMtbG9uZyE=","peer_count":0,"service_count":0}\n',
    );
  });

  it('watch streams state changes and events until SIGINT', async () => {
    const watch = startNode(CLI, ['--socket', socket, 'watch']);
    const json = startNode(CLI, ['--socket', socket, '--json', 'watch']);
    await Promise.all([
      watch.until((out) => /state {2}connected/.test(out.stdout)),
      json.until((out) => out.stdout.includes('"state":"connected"')),
    ]);
    await ctl(
      'setup-global-overlay',
      '--deployment',
      'w',
      '--instance-id',
      'i',
      '--cluster-cidr',
      '10.9.0.0/16',
      '--wg-port',
      '51820',
    );
    expect(
      (
        await ctl(
          'add-peer',
          '--public-key',
          'd2F0Y2g=',
          '--endpoint',
          '192.0.2.1:1',
          '--allowed-ips',
          '10.9.1.0/24',
        )
      ).code,
    ).toBe(0);
    await Promise.all([
      watch.until((out) => out.stdout.includes('event  peer_health_changed')),
      json.until((out) => out.stdout.includes('"event":"peer_health_changed"')),
    ]);
    watch.child.kill('SIGINT');
    json.child.kill('SIGINT');
    expect(await watch.exited).toEqual({ code: 0, signal: null });
    expect(await json.exited).toEqual({ code: 0, signal: null });

    expect(watch.output.stdout).toMatch(
      /^\d\d:\d\d:\d\d\.\d{3} {2}state {2}connecting +attempt 1\/20$/m,
    );
    expect(watch.output.stdout).toMatch(
      / {2}event {2}peer_health_changed +pubkey=d2F0Y2g= healthy=true$/m,
    );
    expect(watch.output.stdout).toMatch(/state {2}closed\s*$/);
    const lines = json.output.stdout
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line));
    expect(lines[0]).toMatchObject({ state: 'connecting', attempt: 1, max_attempts: 20 });
    expect(lines[1]).toMatchObject({ state: 'connected' });
    expect(lines).toContainEqual({
      event: 'peer_health_changed',
      pubkey: 'd2F0Y2g=',
      healthy: true,
    });
  });

  it('watch --ui serves the visualizer with the live connection, token required', async () => {
    const watch = startNode(CLI, ['--socket', socket, 'watch', '--ui']);
    await watch.until((out) =>
      /visualizer: open http:\/\/127\.0\.0\.1:\d+\/\?token=\w+/.test(out.stderr),
    );
    await watch.until((out) => /state {2}connected/.test(out.stdout));
    const url = new URL(/visualizer: open (\S+)/.exec(watch.output.stderr)?.[1] ?? '');
    const page = await fetch(url);
    expect(page.status).toBe(200);
    const state = await fetch(new URL(`/state.json${url.search}`, url));
    expect(JSON.stringify(await state.json())).toContain('connected');
    expect((await fetch(new URL('/', url))).status).toBe(403);
    watch.child.kill('SIGINT');
    expect(await watch.exited).toEqual({ code: 0, signal: null });
  });

  it('shutdown stops the server', async () => {
    const r = await ctl('--json', 'shutdown');
    expect(r).toMatchObject({ code: 0, stdout: '{"result":"ok"}\n' });
    expect(await server.exited).toEqual({ code: 0, signal: null });
    expect(server.output.stderr).toContain('stopped (shutdown request)');
  });
});
