/** A queue as the Queues view and `sprig queues` show it (no imports: the webview bundles this type). */
export interface QueueInfo {
  name: string;
  /** Ready to be delivered. */
  waiting: number;
  /** Delivered and not acknowledged: held by a worker, running or waiting for their ETA (null: nobody can tell). */
  reserved: number | null;
  /** Waiting for their ETA, in the broker or in a worker. */
  scheduled: number | null;
  deadLetter: number;
  /** Consumers: the broker's count where it keeps one (RabbitMQ), else the workers that answered. */
  consumers: number;
  /** Workers that answered and consume this queue. */
  workers: string[];
}
