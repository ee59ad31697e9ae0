import { describe, expect, it } from 'vitest';
import { homelabs, http, simMachine, standardMachines, tcp } from '../support/homelabs.js';

describe("the tests' shared homelabs (test/support/homelabs.ts)", () => {
  it('turns a machine into its lab.machine and services: a served service adds its check, in order', () => {
    expect(
      simMachine('api', {
        role: 'api',
        rebootOrder: 2,
        groups: ['front'],
        dependencies: ['db'],
        serves: [http(8080, { status: 204 }), tcp(6379, { timeout: 2 })],
        checks: [{ type: 'command', command: 'true' }],
        services: [{ type: 'tcp', port: 22000 }],
        orchestration: { criticalityLevel: 'high' },
        faults: ['slow-boot'],
        systemd: false,
      }),
    ).toEqual({
      name: 'api',
      lab: {
        role: 'api',
        rebootOrder: 2,
        groups: ['front'],
        dependencies: ['db'],
        healthChecks: [
          { type: 'http', url: 'http://localhost:8080/health', expectStatus: 204 },
          { type: 'tcp', port: 6379, timeout: 2 },
          { type: 'command', command: 'true' },
        ],
        orchestration: { rebootDelay: 0, criticalityLevel: 'high' },
      },
      services: [
        { type: 'http', port: 8080, status: 204 },
        { type: 'tcp', port: 6379 },
        { type: 'tcp', port: 22000 },
      ],
      faults: ['slow-boot'],
      systemd: false,
    });
  });

  it('leaves out what a machine does not have; its own rebootDelay wins over 0', () => {
    expect(
      simMachine('batch', { role: 'batch', rebootOrder: 3, orchestration: { rebootDelay: 60 } }),
    ).toEqual({
      name: 'batch',
      lab: { role: 'batch', rebootOrder: 3, orchestration: { rebootDelay: 60 } },
    });
  });

  it('has the standard homelabs in stages: nas, db on it, web on db', () => {
    expect(Object.keys(homelabs.threeTier)).toEqual(['nas', 'db', 'web']);
    expect(simMachine('web', homelabs.nasAndWeb.web).lab).toMatchObject({
      rebootOrder: 2,
      dependencies: ['nas'],
    });
    expect(simMachine('web', standardMachines.web).lab).toMatchObject({
      rebootOrder: 3,
      dependencies: ['db'],
    });
  });
});
