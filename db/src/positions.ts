/**
 * Replication positions as text, the way the servers write them, compared without a server:
 * MariaDB's GTID positions (`0-1-57,1-2-9`: per replication domain, the last sequence number) and
 * MySQL 8's GTID sets (`<server uuid>:1-57:60-61,…`: per source server, intervals). Each parses to
 * one number per stream (domain or source uuid): the last transaction of that stream it includes.
 * That is exact on MariaDB (a domain applies in order); on MySQL it reads a set's highest
 * transaction, and the server's own `WAIT_FOR_EXECUTED_GTID_SET` makes the exact check where it
 * matters (read-your-writes waits).
 */

/** One stream of a position: its last transaction number and the entry's text as the server wrote it. */
interface Stream {
  seq: number;
  text: string;
}

/** A position parsed: per stream (domain id, or source uuid), its last transaction. */
export type Position = ReadonlyMap<string, Stream>;

/** Parses a position (`@@gtid_binlog_pos`, `@@gtid_slave_pos`, `@@gtid_executed`); empty text is an empty map. */
export function parsePosition(text: string | null | undefined): Position {
  const streams = new Map<string, Stream>();
  for (const raw of (text ?? '').split(',')) {
    const entry = raw.trim();
    if (!entry) continue;
    const mariadb = /^(\d+)-(\d+)-(\d+)$/.exec(entry);
    if (mariadb) {
      streams.set(mariadb[1]!, { seq: Number(mariadb[3]), text: entry });
      continue;
    }
    const [uuid, ...intervals] = entry.split(':');
    if (!uuid || intervals.length === 0) continue;
    let seq = 0;
    for (const interval of intervals) {
      const end = Number(interval.split('-').at(-1));
      if (Number.isFinite(end) && end > seq) seq = end;
    }
    streams.set(uuid.toLowerCase(), { seq, text: entry });
  }
  return streams;
}

/** True when `have` includes every transaction of `need` (per stream). */
export function covers(have: Position, need: Position): boolean {
  for (const [stream, wanted] of need) {
    const got = have.get(stream);
    if (!got || got.seq < wanted.seq) return false;
  }
  return true;
}

/**
 * The least position that covers each of `positions` (per stream, the furthest entry), as text;
 * null when they are all empty. Read-your-writes waits for this: the account's last commit, the
 * last assignment change and the event position the client sent.
 */
export function latestOf(positions: readonly (string | null | undefined)[]): string | null {
  const merged = new Map<string, Stream>();
  for (const text of positions) {
    for (const [key, stream] of parsePosition(text)) {
      const known = merged.get(key);
      if (!known || known.seq < stream.seq) merged.set(key, stream);
    }
  }
  if (merged.size === 0) return null;
  return [...merged.values()].map((s) => s.text).join(',');
}

/** True for text that reads as a position (what a client may send back): bounded, and only its characters. */
export function isPositionText(text: string): boolean {
  return text.length <= 1024 && /^[0-9A-Fa-f:,\- ]+$/.test(text) && parsePosition(text).size > 0;
}
