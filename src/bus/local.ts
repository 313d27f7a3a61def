// The in-process bus: one instance, listeners called synchronously in publish order.
import type { Bus, CommandAnswer, LiveEvent } from './types.js';

export class LocalBus implements Bus {
  readonly acrossInstances = false;
  readonly #listeners = new Set<(event: LiveEvent) => void>();
  readonly #rules = new Set<(version: number) => void>();

  publish(event: LiveEvent): void {
    for (const l of this.#listeners) {
      try {
        l(event);
      } catch {
        // A failing subscriber (a closed dashboard socket) must not stop the call pipeline.
      }
    }
  }

  subscribe(listener: (event: LiveEvent) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** One instance: there is nobody else to ask. */
  async request(): Promise<CommandAnswer> {
    return { kind: 'none' };
  }

  serve(): void {}

  rulesChanged(version: number): void {
    for (const l of this.#rules) {
      try {
        l(version);
      } catch {
        // One listener's failure must not keep the others from the new rules.
      }
    }
  }

  onRulesChanged(listener: (version: number) => void): () => void {
    this.#rules.add(listener);
    return () => this.#rules.delete(listener);
  }

  async close(): Promise<void> {
    this.#listeners.clear();
    this.#rules.clear();
  }
}
