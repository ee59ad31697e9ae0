import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type DiscordConfig, discordConfig } from '../../src/discord/discord-config.js';
import { LabBot } from '../../src/discord/lab-bot.js';
import { sshChangePreviewer } from '../../src/orchestration/change-previewer.js';
import { RunControl } from '../../src/orchestration/queue/run-control.js';
import type { RunQueue } from '../../src/orchestration/queue/run-queue.js';
import type { LabWorker } from '../../src/orchestration/queue/run-worker.js';
import { loadSshCredentials } from '../../src/transport/ssh/ssh-credentials.js';
import { type Homelab, sshArgs, startHomelab } from '../sim/homelab.js';
import { testNix } from '../support/flake-fixtures.js';
import { memoryLogger } from '../support/memory-logger.js';
import { queueClient, queueEnv, startWorker } from '../support/queue.js';
import { runLab } from '../support/run-cli.js';
import { FakeDiscord, type FakeUser, type InteractionRecord, snowflake } from './fake-discord.js';

let lab: Homelab;
let fake: FakeDiscord;
let worker: LabWorker;
let runs: RunQueue;
let bot: LabBot;
let plainBot: LabBot | undefined;
let config: DiscordConfig;
const log = memoryLogger();

const role = { operator: snowflake(), approver: snowflake() };
const alice: FakeUser = { id: snowflake(), username: 'alice', roles: [role.operator] };
const viewer: FakeUser = { id: snowflake(), username: 'vic', roles: [] };
const postgres = (port: number) => ({ type: 'tcp' as const, port, unit: 'postgresql.service' });

beforeAll(async () => {
  lab = await startHomelab({
    bootTimeMs: 200,
    machines: [
      {
        name: 'db',
        lab: {
          role: 'db',
          rebootOrder: 1,
          healthChecks: [{ type: 'tcp', port: 5432 }],
          orchestration: { rebootDelay: 0 },
        },
        services: [postgres(5432)],
      },
      {
        name: 'web',
        lab: { role: 'web', rebootOrder: 2, orchestration: { rebootDelay: 0 } },
        services: [{ type: 'http', port: 80 }],
      },
    ],
  });
  fake = await FakeDiscord.start({
    roles: [
      { id: role.operator, name: 'operator' },
      { id: role.approver, name: 'approver' },
    ],
  });
  const env = queueEnv();
  config = discordConfig({
    DISCORD_TOKEN: 'fake-token',
    DISCORD_APPLICATION_ID: fake.applicationId,
    DISCORD_GUILD_IDS: fake.guildId,
    DISCORD_OPERATOR_ROLE_IDS: role.operator,
    DISCORD_APPROVER_ROLE_IDS: role.approver,
    DISCORD_API_URL: fake.apiUrl,
    LAB_FLAKE: lab.flake,
  });
  worker = await startWorker(lab, env);
  ({ runs } = await queueClient(env));
  const credentials = await loadSshCredentials(
    { keyPath: lab.keyPath, knownHostsPath: lab.knownHostsPath },
    {},
  );
  bot = new LabBot(config, runs, new RunControl(runs), log.log, {
    preview: sshChangePreviewer(testNix, credentials),
  });
  await bot.start();
});

afterAll(async () => {
  await bot?.stop();
  await plainBot?.stop();
  await worker?.stop();
  await runs?.close();
  await fake?.stop();
  await lab?.stop();
});

const answer = (record: InteractionRecord, what: string) =>
  fake.waitFor(
    () =>
      record.original && (record.original.content || record.original.embeds.length > 0)
        ? record.original
        : null,
    180_000,
    what,
  );

const deployDb = () =>
  runLab(['deploy', 'db', '--yes', '--flake', lab.flake, '--nix-option', 'substituters='], lab.env);

const runningSystem = async (name: string) =>
  (
    await execa('ssh', [
      ...sshArgs(lab.keyPath, lab.knownHostsPath, lab.machine(name)),
      'readlink -f /run/current-system',
    ])
  ).stdout;

describe('/lab diff against the fake Discord API', () => {
  it('answers with each machine’s packages, kernel and units; nothing is activated', async () => {
    // db runs a system lab deployed; its next one changes hello, the kernel and postgresql's unit.
    await lab.configure('db', { packages: { hello: '2.10' } });
    const first = await deployDb();
    expect(first.exitCode, first.stderr).toBe(0);
    await lab.configure('db', { packages: { hello: '2.12' }, kernel: '2', services: [postgres(5433)] });
    const before = await runningSystem('db');
    const activations = lab.activations('db').length;

    const record = fake.command(alice, 'diff', { target: 'all' });
    const message = await answer(record, 'the /lab diff answer');
    const embed = message.embeds[0];
    expect(embed?.title).toBe('What a deploy of all would change (2 machines)');
    expect(embed?.description).toContain('db: 4 packages, reboot needed, 1 unit restarted');
    const db = embed?.fields?.find((field) => field.name.endsWith(' db'))?.value ?? '';
    expect(db).toContain('hello 2.10 → 2.12');
    expect(db).toContain('linux 1 → 2');
    expect(db).toContain('reboot needed: kernel, initrd, kernel-modules change');
    expect(db).toContain('units restarted: postgresql.service');
    // web runs the system it was installed with, outside its store: named, with the reason.
    const web = embed?.fields?.find((field) => field.name.endsWith(' web'))?.value ?? '';
    expect(web).toMatch(/could not diff the closures: what it runs \(.*\) is not in its Nix store/);
    expect(embed?.footer?.text).toMatch(/preview [0-9a-f]{16}$/);
    expect(message.attachments).toEqual([]); // short: no file
    expect(await runningSystem('db')).toBe(before);
    expect(lab.activations('db')).toHaveLength(activations);
  });

  it('a long diff is summarised in the embed and given whole as a file, within Discord’s limits', async () => {
    // Ninety packages change: more than a field holds. (Names without a dash before a digit: nix
    // takes what follows such a dash for the version.)
    const name = (i: number) => `tool-${String.fromCharCode(97 + Math.floor(i / 26), 97 + (i % 26))}`;
    const packages = (version: string) =>
      Object.fromEntries(Array.from({ length: 90 }, (_, i) => [name(i), version]));
    await lab.configure('db', {
      packages: { ...packages('1.0'), hello: '2.12' },
      services: [postgres(5432)],
    });
    // Deploy that, then preview a system where each of them is newer.
    const deployed = await deployDb();
    expect(deployed.exitCode, deployed.stderr).toBe(0);
    await lab.configure('db', { packages: { ...packages('1.1'), hello: '2.12' } });
    const record = fake.command(alice, 'diff', { target: 'db' });
    const message = await answer(record, 'the long /lab diff answer');
    const embed = message.embeds[0];
    expect(embed?.description).toContain('db: 91 packages'); // and nixos-system-db
    expect(embed?.fields?.at(-1)).toEqual({
      name: 'More',
      value: 'The whole preview is in the attached file.',
    });
    expect(message.attachments).toHaveLength(1);
    const file = message.attachments[0];
    expect(file?.filename).toMatch(/^changes-[0-9a-f]{16}\.txt$/);
    const text = file?.data.toString('utf8') ?? '';
    for (let i = 0; i < 90; i++) expect(text).toContain(`${name(i)} 1.0 → 1.1`);
    expect(text).toContain('nixos-system-db');
  });

  it('is for operators; a bot without nix and SSH says it cannot preview', async () => {
    const refused = fake.command(viewer, 'diff', { target: 'db' });
    await fake.waitFor(() => refused.original ?? null, 30_000, 'the refusal');
    expect(refused.ephemeral).toBe(true);
    await bot.stop();
    plainBot = new LabBot(config, runs, new RunControl(runs), log.log);
    await plainBot.start();
    const record = fake.command(alice, 'diff', { target: 'db' });
    const message = await answer(record, 'the answer of a bot without a previewer');
    expect(message.content).toContain('The change preview needs nix and SSH to the machines');
  });
});
