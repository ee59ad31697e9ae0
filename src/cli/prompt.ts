import { createInterface } from 'node:readline/promises';

/** Asks yes/no questions on a terminal, one at a time even when several machines ask at once. */
export class TerminalPrompt {
  private queue: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly input: NodeJS.ReadableStream,
    private readonly output: NodeJS.WritableStream,
  ) {}

  confirm(question: string): Promise<boolean> {
    const answer = this.queue.then(async () => {
      const readline = createInterface({ input: this.input, output: this.output, terminal: false });
      try {
        this.output.write(`${question} [y/N] `);
        const reply = await readline.question('');
        return /^y(es)?$/i.test(reply.trim());
      } catch {
        return false; // input closed: no
      } finally {
        readline.close();
      }
    });
    this.queue = answer.catch(() => undefined);
    return answer;
  }
}
