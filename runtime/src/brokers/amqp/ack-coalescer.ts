import type { Channel, ConsumeMessage } from 'amqplib';

/**
 * The acks of one event-loop turn on one channel, written as few frames as AMQP allows: the run
 * of settled deliveries at the front of the channel's outstanding ones goes as one
 * `basic.ack(multiple)` for the newest of them; acks past an unsettled delivery go one by one
 * (a multiple ack there would also ack the unsettled one). One frame per ack was the largest part
 * of a no-op task's cost on RabbitMQ (amqplib writes every frame to the socket by itself).
 *
 * Nacks are written at once, as before; an ack is written by the next turn, by flush(), or before
 * its channel is closed (closing with it unwritten would requeue a task that ran).
 */
export class AckCoalescer {
  /** Delivery tags in delivery order (increasing on a channel), not yet acked or nacked on the wire. */
  private outstanding: number[] = [];
  private head = 0;
  /** Outstanding tags whose ack or nack was written out of order: dropped when they reach the front. */
  private written = new Set<number>();
  /** Acks waiting for the next flush. */
  private pending = new Map<number, ConsumeMessage>();
  private scheduled = false;

  constructor(readonly ch: Channel) {}

  delivered(m: ConsumeMessage): void {
    this.outstanding.push(m.fields.deliveryTag);
  }

  ack(m: ConsumeMessage): void {
    this.pending.set(m.fields.deliveryTag, m);
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => this.flush());
  }

  /** requeue: back to the queue; else dropped (or dead-lettered by RabbitMQ). Written now. */
  nack(m: ConsumeMessage, requeue: boolean): void {
    this.ch.nack(m, false, requeue);
    this.written.add(m.fields.deliveryTag);
  }

  /** Write the pending acks; on a closed channel they are dropped (RabbitMQ redelivers those messages). */
  flush(): void {
    this.scheduled = false;
    if (!this.pending.size) return;
    try {
      this.write();
    } catch {
      this.pending.clear();
    }
  }

  private write(): void {
    let front: ConsumeMessage | undefined;
    while (this.head < this.outstanding.length) {
      const tag = this.outstanding[this.head]!;
      const m = this.pending.get(tag);
      if (m) {
        front = m;
        this.pending.delete(tag);
      } else if (!this.written.delete(tag)) break;
      this.head++;
    }
    if (this.head > 1024 && this.head * 2 > this.outstanding.length) {
      this.outstanding = this.outstanding.slice(this.head);
      this.head = 0;
    }
    if (front) this.ch.ack(front, true);
    for (const [tag, m] of this.pending) {
      this.ch.ack(m, false);
      this.written.add(tag);
    }
    this.pending.clear();
  }
}
