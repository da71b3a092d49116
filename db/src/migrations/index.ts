import type { QueryInterface } from 'sequelize';
import * as initial from './0001_initial';
import * as columnSizes from './0002_column_sizes';
import * as signInThrottle from './0003_sign_in_throttle';
import * as auditTargets from './0004_audit_targets';
import * as jobs from './0005_jobs';
import * as jobFiles from './0006_job_files';
import * as changeEvents from './0007_change_events';
import * as jobQueue from './0008_job_queue';
import * as mfa from './0009_mfa';
import * as clinicalAccess from './0010_clinical_access';
import * as checkHistoryCare from './0011_check_history_care';
import * as eventOrder from './0013_event_order';
import * as commitPositions from './0014_commit_positions';

/** One schema migration: applied in list order, never edited once it has landed. */
export interface Migration {
  name: string;
  up(params: { context: QueryInterface }): Promise<void>;
  down(params: { context: QueryInterface }): Promise<void>;
}

/** Every migration, oldest first. Add new ones at the end with the next number. */
export const migrations: Migration[] = [
  { name: '0001_initial', ...initial },
  { name: '0002_column_sizes', ...columnSizes },
  { name: '0003_sign_in_throttle', ...signInThrottle },
  { name: '0004_audit_targets', ...auditTargets },
  { name: '0005_jobs', ...jobs },
  { name: '0006_job_files', ...jobFiles },
  { name: '0007_change_events', ...changeEvents },
  { name: '0008_job_queue', ...jobQueue },
  { name: '0009_mfa', ...mfa },
  { name: '0010_clinical_access', ...clinicalAccess },
  { name: '0011_check_history_care', ...checkHistoryCare },
  { name: '0013_event_order', ...eventOrder },
  { name: '0014_commit_positions', ...commitPositions },
];
