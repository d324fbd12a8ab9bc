import { ReportIntake } from './src/features/reports/report-intake.ts';
const t0 = performance.now(); const c0 = process.cpuUsage();
const intake = new ReportIntake(1);
await intake.read(new TextEncoder().encode('{}'), 't', undefined).catch(() => {});
const c = process.cpuUsage(c0);
console.log('first read ms', (performance.now() - t0).toFixed(0), 'cpu ms', ((c.user + c.system) / 1000).toFixed(0));
await intake.close();
