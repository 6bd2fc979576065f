import type { Db } from '../data/db.js';
import { analytics, dashboard, type Analytics, type Dashboard } from '../data/repos/stats.js';

export const LOW_STOCK_THRESHOLD = 5;

export class AdminService {
  constructor(private readonly db: Db) {}

  dashboard(): Promise<Dashboard> {
    return dashboard(this.db, LOW_STOCK_THRESHOLD);
  }

  analytics(days: number): Promise<Analytics> {
    return analytics(this.db, days);
  }
}
