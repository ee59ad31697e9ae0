import { describe, expect, it } from 'vitest';
import { absoluteFlakeRef } from '../../src/cli/settings.js';

describe('the flake of a queued run', () => {
  it('is made absolute when it is a local path: workers evaluate it in their own directory', () => {
    const cwd = '/home/alice/homelab';
    expect(absoluteFlakeRef('.', cwd)).toBe('/home/alice/homelab');
    expect(absoluteFlakeRef('./hosts/../lab', cwd)).toBe('/home/alice/homelab/lab');
    expect(absoluteFlakeRef('../other', cwd)).toBe('/home/alice/other');
    expect(absoluteFlakeRef('/etc/homelab', cwd)).toBe('/etc/homelab');
    expect(absoluteFlakeRef('path:.', cwd)).toBe('path:/home/alice/homelab');
    expect(absoluteFlakeRef('git+file:sub?ref=main', cwd)).toBe('git+file:/home/alice/homelab/sub?ref=main');
    expect(absoluteFlakeRef('path:/srv/flake', cwd)).toBe('path:/srv/flake');
  });

  it('is passed as it is when it is not a local path', () => {
    for (const ref of [
      'github:alice/homelab',
      'git+https://git.example.org/homelab?ref=main',
      'homelab',
      'git+file:///srv/homelab',
    ])
      expect(absoluteFlakeRef(ref, '/tmp')).toBe(ref);
  });
});
