import { type Database, jobFilesRepo, type Transaction } from '@hdms/db';
import type { Config } from '../../env';
import { tooManyRequests } from '../errors';

/*
 * The limits of exports per account (issue 19): one rate and one storage quota shared by every
 * kind of export. Loaded by the export job types in worker threads as well: nothing here imports
 * a job type or a transport.
 */

/**
 * The job types whose files are exports: they share one rate and one storage quota per account.
 * FHIR bulk exports (`fhir.export`) are one of them.
 */
export const EXPORT_JOB_TYPES: readonly string[] = ['patient.export', 'fhir.export'];

/** One account may hold at most this fraction of EXPORT_STORAGE_MAX_MB (an eighth: 128 MiB by default). */
export const EXPORT_ACCOUNT_SHARE = 1 / 8;

/** The export limits of the configuration. */
export type ExportLimits = Pick<Config, 'exportsPerHour' | 'exportStorageMaxBytes'>;

/** Who an export belongs to: the account that asked for it. */
export interface ExportAccount {
  type: string;
  id: number;
}

const starterOf = (account: ExportAccount) => ({ createdByType: account.type, createdById: account.id });
const mib = (bytes: number) => `${Math.round((bytes / 1024 / 1024) * 10) / 10} MiB`;

/**
 * The one account of export storage: bytes held by stored export files, by every account
 * (`total`) and by `account`'s exports (`account`), with what is left of each quota (`room`: the
 * most a new or running export of theirs may still write). Every kind of export counts here.
 */
export async function exportStorageOf(
  db: Database,
  limits: ExportLimits,
  account: ExportAccount,
): Promise<{ total: number; account: number; room: number; accountMax: number }> {
  const used = await jobFilesRepo.exportStorage(db, EXPORT_JOB_TYPES, starterOf(account));
  const accountMax = Math.floor(limits.exportStorageMaxBytes * EXPORT_ACCOUNT_SHARE);
  const room = Math.max(0, Math.min(limits.exportStorageMaxBytes - used.total, accountMax - used.account));
  return { ...used, room, accountMax };
}

/**
 * Refuses a new export of `account` beyond its limits: TOO_MANY_REQUESTS when it has started
 * EXPORTS_PER_HOUR exports in the last hour (Retry-After: until the oldest of them is an hour
 * old), or when the stored exports fill its share of EXPORT_STORAGE_MAX_MB or the whole of it
 * (Retry-After: an hour; stored exports are deleted after EXPORT_RETENTION_HOURS).
 */
export async function checkExportAllowance(
  db: Database,
  limits: ExportLimits,
  account: ExportAccount,
): Promise<void> {
  await exportRateRefusal(db, limits, account);
  const storage = await exportStorageOf(db, limits, account);
  if (storage.room <= 0) {
    const whose =
      storage.account >= storage.accountMax
        ? `your exports take ${mib(storage.account)} of the ${mib(storage.accountMax)} one account may keep`
        : `stored exports take ${mib(storage.total)} of ${mib(limits.exportStorageMaxBytes)} (EXPORT_STORAGE_MAX_MB)`;
    throw tooManyRequests(
      `Export storage is full: ${whose}; exports are deleted after their retention, try again later`,
      3_600,
    );
  }
}

/** Throws TOO_MANY_REQUESTS when `account` has started EXPORTS_PER_HOUR exports in the last hour (read in `tx` when given). */
export async function exportRateRefusal(
  db: Database,
  limits: ExportLimits,
  account: ExportAccount,
  tx?: Transaction,
): Promise<void> {
  const hourAgo = new Date(Date.now() - 3_600_000);
  const recent = await jobFilesRepo.exportsAcceptedSince(
    db,
    EXPORT_JOB_TYPES,
    starterOf(account),
    hourAgo,
    limits.exportsPerHour,
    { tx },
  );
  if (recent.length >= limits.exportsPerHour) {
    const wait = (recent[0]!.getTime() + 3_600_000 - Date.now()) / 1000;
    throw tooManyRequests(
      `Too many exports: at most ${limits.exportsPerHour} an hour per account (EXPORTS_PER_HOUR); try again later`,
      wait,
    );
  }
}
