// The writes the database could not take, kept in order in a local file until it can: one JSON line per write
// (`writes.jsonl`, append-only) and the byte offset of the first one still waiting (`head`). Bounded: when full,
// the oldest are kept and new writes are refused (the caller counts and reports them).
import { mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import type { CallDataWrite } from './types.js';

/** A write of call data, as the service made it (audit entries and transcript lines with their ids). */
export type PendingWrite = CallDataWrite;

export class WriteQueueFile {
  readonly #items: PendingWrite[] = [];
  /** Byte length of each item's line, to move the head past it. */
  readonly #sizes: number[] = [];
  #head = 0;
  #handle: FileHandle | undefined;

  private constructor(
    readonly dir: string,
    readonly maxEntries: number,
  ) {}

  /**
   * Opens the queue in `dir` (created if missing), with what an earlier process left waiting. Throws when another
   * running process uses the directory: each instance needs its own.
   */
  static open(dir: string, maxEntries: number, onBadLine: (lineNumber: number) => void): WriteQueueFile {
    try {
      mkdirSync(dir, { recursive: true });
    } catch (err) {
      throw new Error(`AUDIT_QUEUE_DIR=${dir}: cannot create it (${(err as NodeJS.ErrnoException).code}); point AUDIT_QUEUE_DIR at a writable folder`);
    }
    lock(dir);
    const queue = new WriteQueueFile(dir, maxEntries);
    queue.#load(onBadLine);
    return queue;
  }

  get size(): number {
    return this.#items.length;
  }

  /** The first `n` waiting writes, oldest first. */
  peek(n: number): PendingWrite[] {
    return this.#items.slice(0, n);
  }

  /** Appends what fits (oldest kept) and makes it durable; returns how many did not fit. */
  async append(writes: PendingWrite[]): Promise<number> {
    const fitting = writes.slice(0, Math.max(0, this.maxEntries - this.#items.length));
    if (fitting.length === 0) return writes.length;
    const lines = fitting.map((w) => `${JSON.stringify(w)}\n`);
    this.#handle ??= await open(this.#path('writes.jsonl'), 'a');
    await this.#handle.appendFile(lines.join(''));
    await this.#handle.datasync();
    this.#items.push(...fitting);
    this.#sizes.push(...lines.map((l) => Buffer.byteLength(l)));
    return writes.length - fitting.length;
  }

  /** Forgets the first `n` writes (they are stored). When none is left the file starts over. */
  async shift(n: number): Promise<void> {
    this.#items.splice(0, n);
    const bytes = this.#sizes.splice(0, n).reduce((a, b) => a + b, 0);
    if (this.#items.length === 0) {
      // Emptied first, then the head reset: a crash in between leaves a head past the end, read as empty.
      this.#handle ??= await open(this.#path('writes.jsonl'), 'a');
      await this.#handle.truncate(0);
      this.#head = 0;
    } else {
      this.#head += bytes;
    }
    // Written aside and renamed: a crash leaves the old head or the new one, never half of one.
    writeFileSync(this.#path('head.tmp'), String(this.#head));
    renameSync(this.#path('head.tmp'), this.#path('head'));
  }

  async close(): Promise<void> {
    await this.#handle?.close();
    this.#handle = undefined;
    rmSync(this.#path('lock'), { force: true });
  }

  #load(onBadLine: (lineNumber: number) => void): void {
    let text: Buffer;
    try {
      text = readFileSync(this.#path('writes.jsonl'));
    } catch {
      return;
    }
    const head = Number(readOr(this.#path('head'), '0'));
    // Past the end: the file was emptied and the crash came before the head was reset. Unreadable: everything is
    // written again, which the ids make harmless, rather than nothing.
    this.#head = !Number.isSafeInteger(head) || head < 0 ? 0 : Math.min(head, text.length);
    let offset = this.#head;
    let lineNumber = 0;
    while (offset < text.length) {
      const end = text.indexOf(0x0a, offset);
      // A last line without its newline was cut by a crash while being written: it was never acknowledged.
      if (end < 0) break;
      lineNumber++;
      const line = text.subarray(offset, end + 1);
      try {
        this.#items.push(JSON.parse(line.toString('utf8')) as PendingWrite);
        this.#sizes.push(line.length);
      } catch {
        onBadLine(lineNumber);
        // Skipped lines still count towards the head, so that they are passed over next time too.
        if (this.#items.length === 0) this.#head += line.length;
        else this.#sizes[this.#sizes.length - 1]! += line.length;
      }
      offset = end + 1;
    }
    if (offset < text.length) writeFileSync(this.#path('writes.jsonl'), text.subarray(0, offset));
  }

  #path(name: string): string {
    return join(this.dir, name);
  }
}

function readOr(path: string, fallback: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return fallback;
  }
}

/** One process per directory: a `lock` file with its pid. A lock left by a process that is gone is taken over. */
function lock(dir: string): void {
  const path = join(dir, 'lock');
  const holder = Number(readOr(path, ''));
  if (holder && holder !== process.pid && isRunning(holder)) {
    throw new Error(
      `AUDIT_QUEUE_DIR=${dir} is in use by process ${holder}: give each instance its own AUDIT_QUEUE_DIR (or stop that process)`,
    );
  }
  try {
    writeFileSync(path, String(process.pid));
  } catch (err) {
    throw new Error(`AUDIT_QUEUE_DIR=${dir}: cannot write in it (${(err as NodeJS.ErrnoException).code}); point AUDIT_QUEUE_DIR at a writable folder`);
  }
}

function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
