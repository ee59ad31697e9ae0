import { createSocket } from 'node:dgram';
import { isIP } from 'node:net';

/**
 * Sends one UDP datagram (IPv4 or IPv6, by the address; a host name is resolved). SO_BROADCAST is
 * set, so that a broadcast address (255.255.255.255, 192.168.1.255) may be the destination.
 */
export function sendUdp(packet: Buffer, address: string, port: number): Promise<void> {
  const socket = createSocket(isIP(address) === 6 ? 'udp6' : 'udp4');
  return new Promise<void>((resolve, reject) => {
    socket.once('error', reject);
    socket.bind(0, () => {
      try {
        socket.setBroadcast(true);
      } catch (error) {
        reject(error);
        return;
      }
      socket.send(packet, port, address, (error) => (error ? reject(error) : resolve()));
    });
  }).finally(() => socket.close());
}
