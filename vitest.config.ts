import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 120_000,
    hookTimeout: 120_000,
    pool: 'forks',
    globalSetup: ['test/support/global-setup.ts'],
    // The nix settings the tests need (see the file), whatever the machine's nix.conf says.
    env: { NIX_USER_CONF_FILES: fileURLToPath(new URL('test/support/nix.conf', import.meta.url)) },
  },
});
