/**
 * One subcommand per op, in kebab-case: the table below says how each one's
 * arguments become the request.
 */
import { type Command, Option } from 'commander';
import type {
  AttachHandleInput,
  OverlaydRequestInput,
  PeerScopeInput,
} from '../../protocol/index.js';
import {
  parseCidr,
  parseCidrList,
  parseEndpoint,
  parseIpAddr,
  parseNonEmpty,
  parsePid,
  parseU16,
  parseU64,
} from '../args.js';

type Options = Record<string, unknown>;

export interface OpCommand {
  /** The subcommand, e.g. `allocate-ip`. */
  name: string;
  summary: string;
  /** Adds the op's arguments and options. */
  configure?(cmd: Command): void;
  /** The request, from the parsed arguments and options (usage errors via `cmd.error`). */
  build(args: unknown[], opts: Options, cmd: Command): OverlaydRequestInput;
}

const str = (opts: Options, key: string): string => opts[key] as string;
const optional = <K extends string>(key: K, value: unknown): { [P in K]?: string } =>
  (value === undefined ? {} : { [key]: value as string }) as { [P in K]?: string };

function addHandleOptions(cmd: Command): void {
  cmd
    .addOption(
      new Option('--pid <pid>', 'a Linux container, by process id')
        .argParser(parsePid)
        .conflicts(['windowsContainer', 'guest']),
    )
    .addOption(
      new Option('--windows-container <id>', 'a Windows container, by id')
        .argParser(parseNonEmpty)
        .conflicts('guest'),
    )
    .addOption(
      new Option('--ip <ip>', 'with --windows-container: the address it asks for').argParser(
        parseIpAddr,
      ),
    )
    .addOption(
      new Option(
        '--guest <id>',
        'a guest-managed VM, by id (answers its WireGuard config)',
      ).argParser(parseNonEmpty),
    );
}

function handleOf(opts: Options, cmd: Command): AttachHandleInput {
  if (opts.ip !== undefined && opts.windowsContainer === undefined) {
    cmd.error("error: option '--ip <ip>' needs --windows-container");
  }
  if (opts.pid !== undefined) return { platform: 'linux_pid', pid: opts.pid as number };
  if (opts.windowsContainer !== undefined) {
    return {
      platform: 'windows_container',
      container_id: str(opts, 'windowsContainer'),
      ...optional('ip', opts.ip),
    };
  }
  if (opts.guest !== undefined) return { platform: 'guest_managed', id: str(opts, 'guest') };
  return cmd.error(
    'error: one of --pid <pid>, --windows-container <id> or --guest <id> is required',
  );
}

function addScopeOption(cmd: Command): void {
  cmd.option(
    '--service <name>',
    "the service's overlay (default: the global overlay)",
    parseNonEmpty,
  );
}

const scopeOf = (opts: Options): PeerScopeInput =>
  opts.service === undefined
    ? { scope: 'global' }
    : { scope: 'service', service: str(opts, 'service') };

const service = (cmd: Command) =>
  cmd.requiredOption('--service <name>', 'the service', parseNonEmpty);
const publicKey = (cmd: Command) =>
  cmd.requiredOption(
    '--public-key <key>',
    "the peer's WireGuard public key (base64)",
    parseNonEmpty,
  );

export const OP_COMMANDS: readonly OpCommand[] = [
  {
    name: 'set-local-node-id',
    summary: "set this node's id (a u64, exact)",
    configure: (cmd) => cmd.argument('<id>', 'the node id, 0 to 18446744073709551615', parseU64),
    build: ([id]) => ({ op: 'set_local_node_id', node_id: id as number | bigint }),
  },
  {
    name: 'set-local-wg-pubkey',
    summary: "set this node's WireGuard public key",
    configure: (cmd) => cmd.argument('<key>', 'the public key (base64)', parseNonEmpty),
    build: ([key]) => ({ op: 'set_local_wg_pubkey', pubkey: key as string }),
  },
  {
    name: 'setup-global-overlay',
    summary: 'create the global overlay (answers its bridge name)',
    configure: (cmd) =>
      cmd
        .requiredOption('--deployment <name>', 'the deployment', parseNonEmpty)
        .requiredOption('--instance-id <id>', 'this instance', parseNonEmpty)
        .requiredOption('--cluster-cidr <cidr>', "the cluster's CIDR", parseCidr)
        .option('--slice-cidr <cidr>', "this node's slice of it", parseCidr)
        .requiredOption('--wg-port <port>', 'the WireGuard listen port', parseU16)
        .option('--nat', 'enable NAT traversal', false),
    build: (_args, opts) => ({
      op: 'setup_global_overlay',
      deployment: str(opts, 'deployment'),
      instance_id: str(opts, 'instanceId'),
      cluster_cidr: str(opts, 'clusterCidr'),
      ...optional('slice_cidr', opts.sliceCidr),
      wg_port: opts.wgPort as number,
      nat_enabled: opts.nat === true,
    }),
  },
  {
    name: 'teardown-global-overlay',
    summary: 'remove the global overlay',
    build: () => ({ op: 'teardown_global_overlay' }),
  },
  {
    name: 'setup-service-overlay',
    summary: "create a service's overlay",
    configure: (cmd) =>
      service(cmd).addOption(
        new Option('--mode <mode>', 'the overlay mode')
          .choices(['auto', 'shared', 'dedicated'])
          .default('auto'),
      ),
    build: (_args, opts) => ({
      op: 'setup_service_overlay',
      service: str(opts, 'service'),
      mode: opts.mode as 'auto' | 'shared' | 'dedicated',
    }),
  },
  {
    name: 'teardown-service-overlay',
    summary: "remove a service's overlay",
    configure: service,
    build: (_args, opts) => ({ op: 'teardown_service_overlay', service: str(opts, 'service') }),
  },
  {
    name: 'allocate-ip',
    summary: 'allocate an overlay address for a service',
    configure: (cmd) => service(cmd).option('--join-global', 'also join the global overlay', false),
    build: (_args, opts) => ({
      op: 'allocate_ip',
      service: str(opts, 'service'),
      join_global: opts.joinGlobal === true,
    }),
  },
  {
    name: 'release-ip',
    summary: 'release an allocated address',
    configure: (cmd) => cmd.argument('<ip>', 'the address', parseIpAddr),
    build: ([ip]) => ({ op: 'release_ip', ip: ip as string }),
  },
  {
    name: 'attach-container',
    summary: 'attach a container or guest VM to a service overlay',
    configure: (cmd) => {
      addHandleOptions(cmd);
      service(cmd)
        .option('--join-global', 'also join the global overlay', false)
        .option('--dns-server <ip>', 'DNS server for the container', parseIpAddr)
        .option('--dns-domain <domain>', 'DNS search domain', parseNonEmpty);
    },
    build: (_args, opts, cmd) => ({
      op: 'attach_container',
      handle: handleOf(opts, cmd),
      service: str(opts, 'service'),
      join_global: opts.joinGlobal === true,
      ...optional('dns_server', opts.dnsServer),
      ...optional('dns_domain', opts.dnsDomain),
    }),
  },
  {
    name: 'detach-container',
    summary: 'detach a container or guest VM',
    configure: addHandleOptions,
    build: (_args, opts, cmd) => ({ op: 'detach_container', handle: handleOf(opts, cmd) }),
  },
  {
    name: 'add-peer',
    summary: 'add (or update) a WireGuard peer',
    configure: (cmd) => {
      publicKey(cmd)
        .requiredOption('--endpoint <host:port>', "the peer's endpoint", parseEndpoint)
        .requiredOption('--allowed-ips <cidrs>', 'comma-separated CIDRs', parseCidrList)
        .option('--keepalive <secs>', 'persistent keepalive, 0 = off (u64)', parseU64, 0);
      addScopeOption(cmd);
    },
    build: (_args, opts) => ({
      op: 'add_peer',
      public_key: str(opts, 'publicKey'),
      endpoint: str(opts, 'endpoint'),
      allowed_ips: str(opts, 'allowedIps'),
      persistent_keepalive_secs: opts.keepalive as number | bigint,
      scope: scopeOf(opts),
    }),
  },
  {
    name: 'remove-peer',
    summary: 'remove a WireGuard peer',
    configure: (cmd) => {
      publicKey(cmd);
      addScopeOption(cmd);
    },
    build: (_args, opts) => ({
      op: 'remove_peer',
      pubkey: str(opts, 'publicKey'),
      scope: scopeOf(opts),
    }),
  },
  {
    name: 'add-allowed-ip',
    summary: "add a CIDR to a peer's allowed IPs",
    configure: (cmd) => {
      publicKey(cmd).requiredOption('--cidr <cidr>', 'the CIDR', parseCidr);
      addScopeOption(cmd);
    },
    build: (_args, opts) => ({
      op: 'add_allowed_ip',
      pubkey: str(opts, 'publicKey'),
      cidr: str(opts, 'cidr'),
      scope: scopeOf(opts),
    }),
  },
  {
    name: 'remove-allowed-ip',
    summary: "remove a CIDR from a peer's allowed IPs",
    configure: (cmd) => {
      publicKey(cmd).requiredOption('--cidr <cidr>', 'the CIDR', parseCidr);
      addScopeOption(cmd);
    },
    build: (_args, opts) => ({
      op: 'remove_allowed_ip',
      pubkey: str(opts, 'publicKey'),
      cidr: str(opts, 'cidr'),
      scope: scopeOf(opts),
    }),
  },
  {
    name: 'register-dns',
    summary: 'register a DNS name',
    configure: (cmd) =>
      cmd
        .requiredOption('--name <name>', 'the name', parseNonEmpty)
        .requiredOption('--ip <ip>', 'its address', parseIpAddr),
    build: (_args, opts) => ({ op: 'register_dns', name: str(opts, 'name'), ip: str(opts, 'ip') }),
  },
  {
    name: 'unregister-dns',
    summary: 'remove a DNS name',
    configure: (cmd) => cmd.requiredOption('--name <name>', 'the name', parseNonEmpty),
    build: (_args, opts) => ({ op: 'unregister_dns', name: str(opts, 'name') }),
  },
  {
    name: 'status',
    summary: "show overlayd's status (interface, addresses, peers)",
    build: () => ({ op: 'status' }),
  },
  {
    name: 'nat-tick',
    summary: 'run one NAT traversal round',
    build: () => ({ op: 'nat_tick' }),
  },
  {
    name: 'shutdown',
    summary: 'ask overlayd to exit',
    build: () => ({ op: 'shutdown' }),
  },
];
