import { describe, expect, it } from 'vitest';
import type { DiscordMessage } from '../../src/discord/render/plan-message.js';
import { withReport } from '../../src/discord/render/run-report.js';

const message = (description: string): DiscordMessage => ({
  embeds: [{ title: 'Reboot run r1 · succeeded', description, fields: [{ name: 'Plan', value: '`abc`' }] }],
  components: [],
});

describe('the finished run message with its report', () => {
  it('without a picture (it could not be drawn): the timeline as text alone, nothing attached', () => {
    const { message: out, files } = withReport(message('✅ nas rebooted'), {
      lines: ['nas  +0:00  down 8.0 s · 12.0 s · rebooted'],
      png: null,
    });
    expect(out.embeds[0]?.fields?.at(-1)).toEqual({
      name: 'Timeline',
      value: '```\nnas  +0:00  down 8.0 s · 12.0 s · rebooted\n```',
      inline: false,
    });
    expect(out.embeds[0]).not.toHaveProperty('image');
    expect(out).not.toHaveProperty('attachments');
    expect(files).toEqual([]);
  });

  it('with the picture: the embed shows it, attached as timeline.png; whole lines within Discord’s limits', () => {
    const lines = Array.from({ length: 200 }, (_, i) => `machine-${i}  +0:00  down 8.0 s · rebooted`);
    const { message: out, files } = withReport(message('x'.repeat(4000)), { lines, png: Buffer.from('png') });
    const value = out.embeds[0]?.fields?.at(-1)?.value ?? '';
    expect(value.length).toBeLessThanOrEqual(1024);
    expect(
      value
        .split('\n')
        .slice(1, -2)
        .every((line) => lines.includes(line)),
    ).toBe(true);
    expect(value.endsWith('\n…\n```')).toBe(true);
    const embed = out.embeds[0] as { image?: { url: string } } & NonNullable<DiscordMessage['embeds'][0]>;
    const total =
      (embed.title?.length ?? 0) +
      (embed.description?.length ?? 0) +
      (embed.fields ?? []).reduce((sum, f) => sum + f.name.length + f.value.length, 0);
    expect(total).toBeLessThanOrEqual(6000);
    expect(embed.image?.url).toBe('attachment://timeline.png');
    expect(out.attachments).toEqual([{ id: 0, filename: 'timeline.png' }]);
    expect(files.map((file) => file.name)).toEqual(['timeline.png']);
  });
});
