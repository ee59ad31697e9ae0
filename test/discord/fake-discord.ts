import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { type WebSocket, WebSocketServer } from 'ws';

/** A user of the fake guild: who clicks and types. */
export interface FakeUser {
  readonly id: string;
  readonly username: string;
  readonly roles: readonly string[];
}

export interface RecordedCall {
  readonly method: string;
  readonly path: string;
  readonly body: unknown;
  readonly at: number;
}

/** A message as the fake keeps it (channel messages, interaction responses, thread posts). */
export interface FakeMessage {
  id: string;
  channel_id: string;
  content: string;
  embeds: {
    title?: string;
    description?: string;
    fields?: { name: string; value: string }[];
    color?: number;
    footer?: { text: string };
  }[];
  components: { type: number; components: { custom_id?: string; label?: string; disabled?: boolean }[] }[];
  flags: number;
  edits: number;
  /** As the bot sent them: who may be pinged, and the message it replies to. */
  allowed_mentions?: { parse?: string[]; roles?: string[]; users?: string[] };
  message_reference?: { message_id: string };
  /** Files uploaded with the message (multipart `files[n]`), as Discord keeps them. */
  attachments: FakeAttachment[];
}

export interface FakeAttachment {
  readonly id: string;
  readonly filename: string;
  readonly contentType: string | null;
  readonly data: Buffer;
}

/** Discord's limits on a message, as its API enforces them (400, code 50035, Invalid Form Body). */
export const DISCORD_LIMITS = {
  content: 2000,
  embeds: 10,
  title: 256,
  description: 4096,
  fields: 25,
  fieldName: 256,
  fieldValue: 1024,
  footer: 2048,
  embedTotal: 6000,
  /** A bot's upload limit per file in a server without boosts. */
  file: 10 * 1024 * 1024,
} as const;

/** What in a message breaks Discord's limits, or null. */
export function limitProblem(
  data: Record<string, unknown>,
  files: readonly FakeAttachment[] = [],
): string | null {
  const L = DISCORD_LIMITS;
  if (typeof data.content === 'string' && data.content.length > L.content) return 'content: longer than 2000';
  const embeds = (data.embeds as FakeMessage['embeds'] | undefined) ?? [];
  if (embeds.length > L.embeds) return 'embeds: more than 10';
  for (const [index, embed] of embeds.entries()) {
    const at = `embeds.${index}`;
    if ((embed.title?.length ?? 0) > L.title) return `${at}.title: longer than 256`;
    if ((embed.description?.length ?? 0) > L.description) return `${at}.description: longer than 4096`;
    const fields = embed.fields ?? [];
    if (fields.length > L.fields) return `${at}.fields: more than 25`;
    for (const [i, field] of fields.entries()) {
      if (field.name.length > L.fieldName || field.name.length === 0) return `${at}.fields.${i}.name: length`;
      if (field.value.length > L.fieldValue || field.value.length === 0)
        return `${at}.fields.${i}.value: length`;
    }
    if ((embed.footer?.text.length ?? 0) > L.footer) return `${at}.footer.text: longer than 2048`;
  }
  const total = embeds.reduce(
    (sum, embed) =>
      sum +
      (embed.title?.length ?? 0) +
      (embed.description?.length ?? 0) +
      (embed.footer?.text.length ?? 0) +
      (embed.fields ?? []).reduce((n, field) => n + field.name.length + field.value.length, 0),
    0,
  );
  if (total > L.embedTotal) return 'embeds: more than 6000 characters in all';
  for (const file of files)
    if (file.data.length > L.file) return `files: ${file.filename} is larger than 10 MiB`;
  return null;
}

/**
 * A multipart/form-data body as discord.js sends messages with files: `payload_json` (the
 * message) and `files[n]` parts (the uploads).
 */
export function parseMultipart(
  body: Buffer,
  contentType: string,
): { payload: unknown; files: FakeAttachment[] } {
  const boundary = /boundary=(?:"([^"]+)"|([^;]+))/.exec(contentType);
  const marker = Buffer.from(`--${boundary?.[1] ?? boundary?.[2] ?? ''}`);
  const files: FakeAttachment[] = [];
  let payload: unknown = null;
  let start = body.indexOf(marker);
  while (start >= 0) {
    const next = body.indexOf(marker, start + marker.length);
    if (next < 0) break;
    const part = body.subarray(start + marker.length + 2, next - 2); // without CRLFs around
    const split = part.indexOf('\r\n\r\n');
    const headers = part.subarray(0, split).toString('utf8');
    const data = part.subarray(split + 4);
    const name = /name="([^"]*)"/.exec(headers)?.[1];
    const filename = /filename="([^"]*)"/.exec(headers)?.[1];
    if (name === 'payload_json') payload = JSON.parse(data.toString('utf8'));
    else if (filename !== undefined)
      files.push({
        id: snowflake(),
        filename,
        contentType: /content-type:\s*([^\r\n]+)/i.exec(headers)?.[1] ?? null,
        data: Buffer.from(data),
      });
    start = next;
  }
  return { payload, files };
}

/** What became of one interaction: when it was acknowledged, how, and its responses. */
export interface InteractionRecord {
  readonly id: string;
  readonly token: string;
  readonly sentAt: number;
  acknowledgedAt: number | null;
  callbackType: number | null;
  ephemeral: boolean;
  original: FakeMessage | null;
  followUps: FakeMessage[];
  choices: { name: string; value: string }[] | null;
}

let snowflakeCounter = 0n;
/** Snowflake-like ids, increasing. */
export function snowflake(): string {
  snowflakeCounter += 1n;
  return String(1_300_000_000_000_000_000n + snowflakeCounter);
}

/**
 * A local stand-in for Discord: the REST API under /api/v10 (recording every call) and a gateway
 * WebSocket speaking HELLO, IDENTIFY, READY, GUILD_CREATE, heartbeats and RESUME. The real
 * discord.js client connects to it; tests type commands and click buttons like a user.
 */
export class FakeDiscord {
  readonly calls: RecordedCall[] = [];
  readonly messages = new Map<string, FakeMessage>();
  readonly interactions = new Map<string, InteractionRecord>();
  /** Threads started from a message: the message's id → the thread's (channel) id. */
  readonly threads = new Map<string, string>();
  readonly applicationId = snowflake();
  readonly botUser = {
    id: snowflake(),
    username: 'lab',
    discriminator: '0',
    bot: true,
    avatar: null,
    global_name: null,
  };
  readonly commandId = snowflake();
  private readonly sockets = new Set<WebSocket>();
  private sequence = 0;
  private identified: (() => void) | null = null;
  private readonly listeners = new Set<() => void>();
  /** Faults for the next posts to channels: Discord rate-limiting (429) or down (503). */
  private readonly postFaults: { status: 429 | 503; retryAfterS: number }[] = [];

  private constructor(
    private readonly server: Server,
    private readonly wss: WebSocketServer,
    readonly guildId: string,
    readonly channelId: string,
    readonly roles: readonly { id: string; name: string }[],
    private readonly acceptedToken: string | undefined,
  ) {}

  /**
   * `acceptedToken`: requests of the bot with another token get Discord's 401 (by default every
   * token is accepted).
   */
  static async start(options: {
    roles: readonly { id: string; name: string }[];
    acceptedToken?: string;
  }): Promise<FakeDiscord> {
    const server = createServer();
    const wss = new WebSocketServer({ noServer: true });
    const fake = new FakeDiscord(server, wss, snowflake(), snowflake(), options.roles, options.acceptedToken);
    server.on('request', (request, response) => {
      fake.handleRest(request, response).catch((error: Error) => {
        response.writeHead(500, { 'content-type': 'application/json' });
        response.end(JSON.stringify({ message: error.message, code: 0 }));
      });
    });
    server.on('upgrade', (request, socket, head) => {
      wss.handleUpgrade(request, socket, head, (ws) => fake.gateway(ws));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return fake;
  }

  get port(): number {
    return (this.server.address() as AddressInfo).port;
  }

  /** What the bot sets as its REST base (discord.js appends /v10). */
  get apiUrl(): string {
    return `http://127.0.0.1:${this.port}/api`;
  }

  /** Resolves when a client has identified and received READY and GUILD_CREATE. */
  whenIdentified(): Promise<void> {
    return new Promise((resolve) => {
      if (this.sockets.size > 0 && this.identified === null && this.sequence > 0) resolve();
      else this.identified = resolve;
    });
  }

  /** Closes every gateway connection (the client reconnects and resumes). */
  dropGateway(): void {
    for (const socket of this.sockets) socket.close(4000, 'test drop');
  }

  async stop(): Promise<void> {
    for (const socket of this.sockets) socket.terminate();
    this.wss.close();
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  // ── Acting as users ───────────────────────────────────────────────────────────────────────

  /** `/lab <subcommand> [options]` typed by the user (string or boolean options); resolves with its record. */
  command(
    user: FakeUser,
    subcommand: string,
    options: Record<string, string | boolean> = {},
    where: { guildId?: string } = {},
  ): InteractionRecord {
    return this.interact(user, {
      ...(where.guildId
        ? { guild_id: where.guildId, authorizing_integration_owners: { '0': where.guildId } }
        : {}),
      type: 2,
      data: {
        id: this.commandId,
        name: 'lab',
        type: 1,
        guild_id: this.guildId,
        options: [
          {
            type: 1,
            name: subcommand,
            // Option types as Discord sends them: 3 a string, 5 a boolean.
            options: Object.entries(options).map(([name, value]) => ({
              type: typeof value === 'boolean' ? 5 : 3,
              name,
              value,
            })),
          },
        ],
      },
    });
  }

  /** The user types into an autocompleted option. */
  autocomplete(user: FakeUser, subcommand: string, option: string, value: string): InteractionRecord {
    return this.interact(user, {
      type: 4,
      data: {
        id: this.commandId,
        name: 'lab',
        type: 1,
        guild_id: this.guildId,
        options: [{ type: 1, name: subcommand, options: [{ type: 3, name: option, value, focused: true }] }],
      },
    });
  }

  /** The user clicks the button of a message. */
  click(user: FakeUser, message: FakeMessage, customId: string): InteractionRecord {
    const button = message.components.flatMap((row) => row.components).find((c) => c.custom_id === customId);
    if (!button) throw new Error(`message ${message.id} has no button ${customId}`);
    return this.interact(user, {
      type: 3,
      data: { custom_id: customId, component_type: 2 },
      message: this.messageJson(message),
    });
  }

  /**
   * The next `count` posts of messages to a channel fail: 429 (rate limited, with Discord's
   * retry_after) or 503 (Discord down).
   */
  failPosts(count: number, status: 429 | 503, retryAfterS = 1): void {
    for (let i = 0; i < count; i++) this.postFaults.push({ status, retryAfterS });
  }

  /** Messages posted in a channel (or thread), oldest first. */
  channelMessages(channelId: string = this.channelId): FakeMessage[] {
    return [...this.messages.values()].filter((message) => message.channel_id === channelId);
  }

  /** Polls until the check returns a value (not undefined/false), or fails after the timeout. */
  async waitFor<T>(
    check: () => T | undefined | false | null,
    timeoutMs = 30_000,
    what = 'condition',
  ): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const value = check();
      if (value !== undefined && value !== false && value !== null && value !== '') return value;
      if (Date.now() > deadline) throw new Error(`fake Discord: timed out waiting for ${what}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(done, 100);
        this.listeners.add(done);
        function done() {
          clearTimeout(timer);
          resolve();
        }
      });
    }
  }

  private interact(user: FakeUser, payload: Record<string, unknown>): InteractionRecord {
    const id = snowflake();
    const token = `token-${randomBytes(8).toString('hex')}`;
    const record: InteractionRecord = {
      id,
      token,
      sentAt: Date.now(),
      acknowledgedAt: null,
      callbackType: null,
      ephemeral: false,
      original: null,
      followUps: [],
      choices: null,
    };
    this.interactions.set(token, record);
    this.dispatch('INTERACTION_CREATE', {
      id,
      application_id: this.applicationId,
      token,
      version: 1,
      guild_id: this.guildId,
      channel_id: this.channelId,
      channel: { id: this.channelId, type: 0, guild_id: this.guildId, name: 'lab' },
      member: {
        user: {
          id: user.id,
          username: user.username,
          discriminator: '0',
          global_name: user.username,
          avatar: null,
        },
        roles: [...user.roles],
        permissions: '2147483647',
        joined_at: new Date(0).toISOString(),
        deaf: false,
        mute: false,
        flags: 0,
        nick: null,
      },
      app_permissions: '2147483647',
      locale: 'en-US',
      guild_locale: 'en-US',
      entitlements: [],
      authorizing_integration_owners: { '0': this.guildId },
      context: 0,
      ...payload,
    });
    return record;
  }

  // ── Gateway ───────────────────────────────────────────────────────────────────────────────

  private gateway(ws: WebSocket): void {
    this.sockets.add(ws);
    ws.on('close', () => this.sockets.delete(ws));
    ws.send(JSON.stringify({ op: 10, d: { heartbeat_interval: 5_000 }, s: null, t: null }));
    ws.on('message', (raw) => {
      const message = JSON.parse(String(raw)) as { op: number; d: unknown };
      if (message.op === 1) ws.send(JSON.stringify({ op: 11, d: null, s: null, t: null }));
      if (message.op === 2) this.ready(ws);
      if (message.op === 6) this.send(ws, 'RESUMED', {});
    });
  }

  private ready(ws: WebSocket): void {
    const url = `ws://127.0.0.1:${this.port}/gateway`;
    this.send(ws, 'READY', {
      v: 10,
      user: this.botUser,
      guilds: [{ id: this.guildId, unavailable: true }],
      session_id: `session-${randomBytes(4).toString('hex')}`,
      resume_gateway_url: url,
      application: { id: this.applicationId, flags: 0 },
      shard: [0, 1],
    });
    const role = (id: string, name: string, position: number) => ({
      id,
      name,
      permissions: '0',
      position,
      color: 0,
      hoist: false,
      managed: false,
      mentionable: true,
      flags: 0,
    });
    this.send(ws, 'GUILD_CREATE', {
      id: this.guildId,
      name: 'homelab',
      icon: null,
      owner_id: snowflake(),
      unavailable: false,
      member_count: 1,
      large: false,
      joined_at: new Date(0).toISOString(),
      roles: [
        role(this.guildId, '@everyone', 0),
        ...this.roles.map((r, index) => role(r.id, r.name, index + 1)),
      ],
      channels: [
        {
          id: this.channelId,
          type: 0,
          name: 'lab',
          guild_id: this.guildId,
          position: 0,
          permission_overwrites: [],
        },
      ],
      members: [
        {
          user: this.botUser,
          roles: [],
          joined_at: new Date(0).toISOString(),
          deaf: false,
          mute: false,
          flags: 0,
        },
      ],
      threads: [],
      presences: [],
      voice_states: [],
      emojis: [],
      stickers: [],
      features: [],
      stage_instances: [],
      guild_scheduled_events: [],
      premium_tier: 0,
      system_channel_flags: 0,
      explicit_content_filter: 0,
      default_message_notifications: 0,
      mfa_level: 0,
      nsfw_level: 0,
      verification_level: 0,
      afk_timeout: 300,
      preferred_locale: 'en-US',
    });
    this.identified?.();
    this.identified = null;
  }

  private dispatch(type: string, data: unknown): void {
    for (const ws of this.sockets) this.send(ws, type, data);
  }

  private send(ws: WebSocket, type: string, data: unknown): void {
    this.sequence += 1;
    ws.send(JSON.stringify({ op: 0, t: type, s: this.sequence, d: data }));
  }

  // ── REST ──────────────────────────────────────────────────────────────────────────────────

  private async handleRest(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const url = new URL(request.url ?? '/', `http://127.0.0.1:${this.port}`);
    const chunks: Buffer[] = [];
    for await (const chunk of request) chunks.push(chunk as Buffer);
    const raw = Buffer.concat(chunks);
    const text = raw.toString('utf8');
    const contentType = request.headers['content-type'] ?? '';
    const multipart = contentType.startsWith('multipart/form-data') ? parseMultipart(raw, contentType) : null;
    const files = multipart?.files ?? [];
    const body: unknown = multipart
      ? multipart.payload
      : text && contentType.includes('json')
        ? JSON.parse(text)
        : text || null;
    const method = request.method ?? 'GET';
    const path = decodeURIComponent(url.pathname).replace(/^\/api(\/v\d+)?/, '');
    this.calls.push({ method, path, body, at: Date.now() });
    const json = (status: number, value?: unknown) => {
      if (value === undefined) {
        response.writeHead(status);
        response.end();
      } else {
        response.writeHead(status, { 'content-type': 'application/json' });
        response.end(JSON.stringify(value));
      }
      for (const listener of [...this.listeners]) {
        this.listeners.delete(listener);
        listener();
      }
    };
    const route = (pattern: RegExp) => path.match(pattern);
    // A message over Discord's limits is refused, as Discord refuses it.
    const sendsMessage =
      (method === 'POST' || method === 'PATCH') && /\/messages|\/webhooks\/\d+\/[^/]+$/.test(path);
    const problem =
      sendsMessage && body && typeof body === 'object'
        ? limitProblem(body as Record<string, unknown>, files)
        : null;
    if (problem) return json(400, { message: 'Invalid Form Body', code: 50035, errors: problem });
    let match: RegExpMatchArray | null;
    // Interaction callbacks and webhooks are authorised by their interaction token instead.
    const botRoute = !path.startsWith('/interactions/') && !path.startsWith('/webhooks/');
    if (botRoute && this.acceptedToken && request.headers.authorization !== `Bot ${this.acceptedToken}`)
      return json(401, { message: '401: Unauthorized', code: 0 });
    if (method === 'GET' && path === '/gateway/bot') {
      return json(200, {
        url: `ws://127.0.0.1:${this.port}/gateway`,
        shards: 1,
        session_start_limit: { total: 1000, remaining: 1000, reset_after: 0, max_concurrency: 1 },
      });
    }
    if (method === 'GET' && path === '/applications/@me')
      return json(200, { id: this.applicationId, name: 'lab' });
    match = route(/^\/applications\/(\d+)\/guilds\/(\d+)\/commands$/);
    if (method === 'PUT' && match && match[2] !== this.guildId)
      return json(403, { message: 'Missing Access', code: 50001 });
    if (method === 'PUT' && match) {
      const commands = (body as { name: string }[]).map((command) => ({
        ...command,
        id: snowflake(),
        application_id: match?.[1],
        guild_id: match?.[2],
        version: snowflake(),
      }));
      return json(200, commands);
    }
    match = route(/^\/interactions\/(\d+)\/([^/]+)\/callback$/);
    if (method === 'POST' && match) {
      const record = this.interactions.get(match[2] as string);
      if (!record) return json(404, { message: 'Unknown interaction', code: 10062 });
      if (record.acknowledgedAt !== null)
        return json(400, { message: 'Interaction has already been acknowledged.', code: 40060 });
      const { type, data } = body as { type: number; data?: Record<string, unknown> };
      record.acknowledgedAt = Date.now();
      record.callbackType = type;
      record.ephemeral = (((data?.flags as number | undefined) ?? 0) & 64) !== 0;
      if (type === 8) record.choices = (data?.choices as { name: string; value: string }[]) ?? [];
      if (type === 4 || type === 5)
        record.original = this.createMessage(
          this.channelId,
          type === 4 ? (data ?? {}) : { flags: data?.flags },
        );
      if (url.searchParams.get('with_response') === 'true')
        return json(200, {
          interaction: { id: record.id, type: 2 },
          resource: { type, message: record.original ? this.messageJson(record.original) : undefined },
        });
      return json(204);
    }
    match = route(/^\/webhooks\/(\d+)\/([^/]+)\/messages\/@original$/);
    if (match) {
      const record = this.interactions.get(match[2] as string);
      if (!record?.original) return json(404, { message: 'Unknown Message', code: 10008 });
      if (method === 'PATCH') {
        this.editMessage(record.original, body as Record<string, unknown>, files);
        return json(200, this.messageJson(record.original));
      }
      if (method === 'DELETE') {
        this.messages.delete(record.original.id);
        return json(204);
      }
      return json(200, this.messageJson(record.original));
    }
    match = route(/^\/webhooks\/(\d+)\/([^/]+)$/);
    if (method === 'POST' && match) {
      const record = this.interactions.get(match[2] as string);
      if (!record) return json(404, { message: 'Unknown Webhook', code: 10015 });
      const message = this.createMessage(this.channelId, body as Record<string, unknown>, files);
      record.followUps.push(message);
      return json(200, this.messageJson(message));
    }
    match = route(/^\/channels\/(\d+)\/messages$/);
    const fault = method === 'POST' && match ? this.postFaults.shift() : undefined;
    if (fault?.status === 429) {
      response.writeHead(429, {
        'content-type': 'application/json',
        'retry-after': String(fault.retryAfterS),
        'x-ratelimit-scope': 'user',
      });
      response.end(
        JSON.stringify({
          message: 'You are being rate limited.',
          retry_after: fault.retryAfterS,
          global: false,
        }),
      );
      return;
    }
    if (fault?.status === 503) return json(503, { message: 'Service Unavailable', code: 0 });
    if (method === 'POST' && match) {
      return json(
        200,
        this.messageJson(this.createMessage(match[1] as string, body as Record<string, unknown>, files)),
      );
    }
    match = route(/^\/channels\/(\d+)\/messages\/(\d+)$/);
    if (method === 'PATCH' && match) {
      const message = this.messages.get(match[2] as string);
      if (!message) return json(404, { message: 'Unknown Message', code: 10008 });
      this.editMessage(message, body as Record<string, unknown>, files);
      return json(200, this.messageJson(message));
    }
    match = route(/^\/channels\/(\d+)\/messages\/(\d+)\/threads$/);
    if (method === 'POST' && match) {
      const { name } = body as { name: string };
      const threadId = snowflake();
      this.threads.set(match[2] as string, threadId);
      return json(201, {
        id: threadId,
        type: 11,
        guild_id: this.guildId,
        parent_id: match[1],
        name,
        owner_id: this.botUser.id,
        thread_metadata: {
          archived: false,
          auto_archive_duration: 1440,
          archive_timestamp: new Date().toISOString(),
          locked: false,
        },
        message_count: 0,
        member_count: 1,
      });
    }
    return json(404, { message: `fake Discord: no route for ${method} ${path}`, code: 0 });
  }

  private createMessage(
    channelId: string,
    data: Record<string, unknown>,
    files: readonly FakeAttachment[] = [],
  ): FakeMessage {
    const message: FakeMessage = {
      id: snowflake(),
      channel_id: channelId,
      content: (data.content as string | undefined) ?? '',
      embeds: (data.embeds as FakeMessage['embeds'] | undefined) ?? [],
      components: (data.components as FakeMessage['components'] | undefined) ?? [],
      flags: (data.flags as number | undefined) ?? 0,
      edits: 0,
      attachments: [...files],
      ...(data.allowed_mentions
        ? { allowed_mentions: data.allowed_mentions as FakeMessage['allowed_mentions'] }
        : {}),
      ...(data.message_reference
        ? { message_reference: data.message_reference as FakeMessage['message_reference'] }
        : {}),
    };
    this.messages.set(message.id, message);
    return message;
  }

  private editMessage(
    message: FakeMessage,
    data: Record<string, unknown>,
    files: readonly FakeAttachment[] = [],
  ): void {
    // New uploads are added; `attachments` (the ones to keep, by id) replaces the list, as Discord does.
    if ('attachments' in data) {
      const keep = new Set(
        ((data.attachments as { id?: string }[] | undefined) ?? []).map((a) => String(a.id)),
      );
      message.attachments = message.attachments.filter((a) => keep.has(a.id));
    }
    message.attachments.push(...files);
    if ('content' in data) message.content = (data.content as string | null) ?? '';
    if ('embeds' in data) message.embeds = (data.embeds as FakeMessage['embeds']) ?? [];
    if ('components' in data) message.components = (data.components as FakeMessage['components']) ?? [];
    if ('allowed_mentions' in data)
      message.allowed_mentions = data.allowed_mentions as FakeMessage['allowed_mentions'];
    message.edits += 1;
  }

  private messageJson(message: FakeMessage) {
    return {
      id: message.id,
      channel_id: message.channel_id,
      guild_id: this.guildId,
      author: this.botUser,
      content: message.content,
      timestamp: new Date().toISOString(),
      edited_timestamp: null,
      tts: false,
      mention_everyone: false,
      mentions: [],
      mention_roles: [],
      attachments: message.attachments.map((a) => ({
        id: a.id,
        filename: a.filename,
        size: a.data.length,
        url: `http://127.0.0.1:${this.port}/attachments/${a.id}/${a.filename}`,
        proxy_url: `http://127.0.0.1:${this.port}/attachments/${a.id}/${a.filename}`,
        content_type: a.contentType ?? undefined,
      })),
      embeds: message.embeds,
      components: message.components,
      pinned: false,
      type: 0,
      flags: message.flags,
      application_id: this.applicationId,
    };
  }
}
