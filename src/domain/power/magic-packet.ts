import { MAC_PATTERN } from '../inventory/power-schema.js';

/** The six bytes of a MAC address written as six hex pairs (`:` or `-` between them). */
export function macBytes(mac: string): Buffer {
  if (!MAC_PATTERN.test(mac)) throw new TypeError(`not a MAC address: ${JSON.stringify(mac)}`);
  return Buffer.from(mac.replace(/[:-]/g, ''), 'hex');
}

/** Wake-on-LAN's magic packet: 6 bytes 0xFF, then the MAC 16 times (102 bytes). */
export function magicPacket(mac: string): Buffer {
  const address = macBytes(mac);
  return Buffer.concat([Buffer.alloc(6, 0xff), ...Array.from({ length: 16 }, () => address)]);
}

/**
 * The MAC a datagram wakes, if it is a well-formed magic packet (6 × 0xFF, then one MAC 16
 * times; anything after that, such as a SecureOn password, is ignored as network cards do).
 */
export function magicPacketTarget(packet: Buffer): string | null {
  if (packet.length < 102 || !packet.subarray(0, 6).equals(Buffer.alloc(6, 0xff))) return null;
  const address = packet.subarray(6, 12);
  for (let i = 1; i < 16; i++) if (!packet.subarray(6 + 6 * i, 12 + 6 * i).equals(address)) return null;
  return [...address].map((byte) => byte.toString(16).padStart(2, '0')).join(':');
}
