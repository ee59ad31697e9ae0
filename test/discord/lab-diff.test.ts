import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LabBot } from '../../src/discord/lab-bot.js';
import type { Homelab } from '../sim/homelab.js';
import { answerMessage } from '../support/discord-messages.js';
import { type DiscordStack, startDiscordStack } from '../support/discord-stack.js';
import { runningSystem } from '../support/on-machine.js';
import { runLabOn } from '../support/run-cli.js';
import { type FakeDiscord, type FakeUser, snowflake } from './fake-discord.js';

let stack: DiscordStack;
let lab: Homelab;
let fake: FakeDiscord;
let bot: LabBot;

const role = { operator: snowflake(), approver: snowflake() };
const alice: FakeUser = { id: snowflake(), username: 'alice', roles: [role.operator] };
const viewer: FakeUser = { id: snowflake(), username: 'vic', roles: [] };
const postgres = (port: number) => ({ type: 'tcp' as const, port, unit: 'postgresql.service' });

beforeAll(async () => {
  stack = await startDiscordStack({
    machines: {
      db: { role: 'db', rebootOrder: 1, checks: [{ type: 'tcp', port: 5432 }], services: [postgres(5432)] },
      web: { role: 'web', rebootOrder: 2, services: [{ type: 'http', port: 80 }] },
    },
    roles: role,
    // No run notifier: /lab diff starts no run.
    notifier: false,
    preview: true,
  });
  ({ lab, fake, bot } = stack);
});

afterAll(async () => {
  await stack?.stop();
});

const deployDb = () => runLabOn(lab, 'deploy', ['db', '--yes']);

describe('/lab diff against the fake Discord API', () => {
  it('answers with each machine’s packages, kernel and units; nothing is activated', async () => {
    // db runs a system lab deployed; its next one changes hello, the kernel and postgresql's unit.
    await lab.configure('db', { packages: { hello: '2.10' } });
    const first = await deployDb();
    expect(first.exitCode, first.stderr).toBe(0);
    await lab.configure('db', { packages: { hello: '2.12' }, kernel: '2', services: [postgres(5433)] });
    const before = await runningSystem(lab, 'db');
    const activations = lab.activations('db').length;

    const record = fake.command(alice, 'diff', { target: 'all' });
    const message = await answerMessage(fake, record, 'the /lab diff answer', 180_000);
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
    expect(await runningSystem(lab, 'db')).toBe(before);
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
    const message = await answerMessage(fake, record, 'the long /lab diff answer', 180_000);
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
    await stack.startBot();
    const record = fake.command(alice, 'diff', { target: 'db' });
    const message = await answerMessage(fake, record, 'the answer of a bot without a previewer', 180_000);
    expect(message.content).toContain('The change preview needs nix and SSH to the machines');
  });
});
