/**
 * Draws an orchestrator's CloudWatch dashboard as an SVG picture, offline, from the dashboard body the construct
 * synthesizes: each widget at its grid position, with its title, its metrics' labels, its query's columns or its
 * alarms. The curves are illustrative; the layout, titles and contents are the dashboard's own.
 *
 *   npx ts-node --prefer-ts-exts local/dashboard-svg.ts [out.svg]   (default docs/images/dashboard.svg)
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { App, Duration, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { DatabaseAuthentication, ItcOrchestrator, OrchestratorDatabase, Pipeline } from '../src';

/** One widget of a dashboard body, as CloudWatch reads it. */
export interface DashboardWidget {
  readonly type: string;
  readonly x: number;
  readonly y: number;
  readonly width: number;
  readonly height: number;
  readonly properties: Record<string, any>;
}

const CELL_WIDTH = 40;
const CELL_HEIGHT = 34;
const COLORS = ['#1f77b4', '#d62728', '#ff7f0e', '#9467bd', '#2ca02c', '#8c564b'];

function escape(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

/** A metric's label: its options' `label`, else its name; a math expression's label or expression. */
function metricLabel(metric: any[]): string {
  const options = metric[metric.length - 1];
  if (options && typeof options === 'object' && !Array.isArray(options)) {
    if (options.label) return String(options.label);
    if (options.expression) return String(options.expression);
  }
  return String(metric[1]);
}

function isExpression(metric: any[]): boolean {
  const options = metric[metric.length - 1];
  return Boolean(options && typeof options === 'object' && options.expression);
}

function graph(widget: DashboardWidget, left: number, top: number, width: number, height: number): string[] {
  const metrics = (widget.properties.metrics ?? []).filter((metric: any[]) => {
    const options = metric[metric.length - 1];
    return !(options && typeof options === 'object' && options.visible === false);
  });
  const plotTop = top + 34;
  const plotHeight = height - 34 - 18 * Math.ceil(metrics.length / 2) - 10;
  const parts = [`<line x1="${left + 30}" y1="${plotTop + plotHeight}" x2="${left + width - 12}" y2="${plotTop + plotHeight}" stroke="#bbb"/>`];
  metrics.forEach((metric: any[], index: number) => {
    const color = COLORS[index % COLORS.length];
    const points = Array.from({ length: 24 }, (_, step) => {
      const x = left + 30 + (step / 23) * (width - 42);
      // A math expression (hours since success) climbs and drops back at each success; counts wave.
      const wave = isExpression(metric) ? 0.08 + ((step % 8) / 8) * 0.55
        : 0.5 + 0.35 * Math.sin(step / 3 + index * 1.7) * (index === 0 ? 1 : 0.4) - index * 0.12;
      return `${x.toFixed(1)},${(plotTop + plotHeight * (1 - Math.max(0.05, Math.min(0.95, wave)))).toFixed(1)}`;
    });
    parts.push(`<polyline fill="none" stroke="${color}" stroke-width="2" points="${points.join(' ')}"/>`);
    const legendX = left + 12 + (index % 2) * (width / 2);
    const legendY = plotTop + plotHeight + 18 + Math.floor(index / 2) * 18;
    parts.push(`<rect x="${legendX}" y="${legendY - 9}" width="10" height="10" fill="${color}"/>`,
      `<text x="${legendX + 14}" y="${legendY}" font-size="11">${escape(metricLabel(metric).slice(0, 44))}</text>`);
  });
  for (const annotation of widget.properties.annotations?.horizontal ?? []) {
    const y = plotTop + plotHeight * 0.25;
    parts.push(`<line x1="${left + 30}" y1="${y}" x2="${left + width - 12}" y2="${y}" stroke="${annotation.color ?? '#d62728'}" stroke-dasharray="6 4"/>`,
      `<text x="${left + width - 14}" y="${y - 4}" font-size="11" text-anchor="end" fill="${annotation.color ?? '#d62728'}">${escape(String(annotation.label ?? annotation.value))}</text>`);
  }
  return parts;
}

function logTable(widget: DashboardWidget, left: number, top: number, width: number): string[] {
  const query = String(widget.properties.query ?? '');
  const stats = /stats (.*) by (\w+)/.exec(query);
  const columns = stats ? [stats[2], ...stats[1].split(',').map((part) => part.trim().split(' as ').pop()!)] : ['result'];
  const columnWidth = (width - 24) / columns.length;
  const parts = columns.map((column, index) =>
    `<text x="${left + 12 + index * columnWidth}" y="${top + 50}" font-size="12" font-weight="bold">${escape(column)}</text>`);
  for (let row = 0; row < 4; row++) {
    parts.push(`<rect x="${left + 12}" y="${top + 60 + row * 22}" width="${width - 24}" height="18" fill="${row % 2 ? '#fff' : '#f3f5f7'}"/>`,
      `<text x="${left + 14}" y="${top + 73 + row * 22}" font-size="11" fill="#555">reporting.view_${row + 1}</text>`,
      ...columns.slice(1).map((_, index) => `<text x="${left + 12 + (index + 1) * columnWidth}" y="${top + 73 + row * 22}" font-size="11" fill="#555">${
        [[41200, 18400, 7, 0], [22800, 9100, 7, 0], [9600, 4200, 7, 0], [3100, 1500, 7, 0]][row][index]}</text>`));
  }
  parts.push(`<text x="${left + 12}" y="${top + 170}" font-size="10" fill="#777">${escape(query.split('\n').find((line) => line.startsWith('filter')) ?? '')}</text>`);
  return parts;
}

function alarmList(widget: DashboardWidget, left: number, top: number, width: number): string[] {
  const alarms: string[] = widget.properties.alarms ?? [];
  return alarms.flatMap((alarm, index) => {
    const name = alarm.split(':alarm:').pop()!.replace(/^sales-/, '');
    const x = left + 12 + (index % 2) * ((width - 24) / 2);
    const y = top + 48 + Math.floor(index / 2) * 26;
    return [`<rect x="${x}" y="${y - 14}" width="${(width - 24) / 2 - 8}" height="20" rx="3" fill="#e6f4ea" stroke="#2ca02c"/>`,
      `<text x="${x + 6}" y="${y}" font-size="11">OK  ${escape(name)}</text>`];
  });
}

/** The SVG picture of a dashboard body's widgets. */
export function renderDashboardSvg(widgets: DashboardWidget[], title: string): string {
  const bottom = Math.max(...widgets.map((widget) => widget.y + widget.height));
  const width = 24 * CELL_WIDTH + 20;
  const height = bottom * CELL_HEIGHT + 56;
  const parts = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="Helvetica, Arial, sans-serif">`,
    `<rect width="${width}" height="${height}" fill="#f2f3f3"/>`,
    `<text x="10" y="28" font-size="18" font-weight="bold">${escape(title)}</text>`,
  ];
  for (const widget of widgets) {
    const left = 10 + widget.x * CELL_WIDTH;
    const top = 44 + widget.y * CELL_HEIGHT;
    const w = widget.width * CELL_WIDTH - 8;
    const h = widget.height * CELL_HEIGHT - 8;
    parts.push(`<g><rect x="${left}" y="${top}" width="${w}" height="${h}" fill="#fff" stroke="#d5dbdb"/>`,
      `<text x="${left + 12}" y="${top + 22}" font-size="14" font-weight="bold">${escape(String(widget.properties.title ?? widget.type))}</text>`);
    if (widget.type === 'alarm' || (widget.type === 'metric' && widget.properties.alarms)) {
      parts.push(...alarmList(widget, left, top, w));
    } else if (widget.type === 'metric') {
      parts.push(...graph(widget, left, top, w, h));
    } else if (widget.type === 'log') {
      parts.push(...logTable(widget, left, top, w));
    }
    parts.push('</g>');
  }
  parts.push('</svg>');
  return parts.join('\n') + '\n';
}

/** The widgets of a template's dashboard, with the template's references written as placeholders. */
export function dashboardWidgets(template: Template): DashboardWidget[] {
  const resources = template.toJSON().Resources as Record<string, { Properties?: Record<string, any> }>;
  // A reference becomes the referenced resource's name (an alarm's AlarmName), else its logical ID.
  const referenced = (part: any): string => {
    const logicalId = part.Ref ?? part['Fn::GetAtt']?.[0];
    return logicalId === undefined ? 'REF' : String(resources[logicalId]?.Properties?.AlarmName ?? logicalId);
  };
  const [dashboard] = Object.values(template.findResources('AWS::CloudWatch::Dashboard'));
  const body = dashboard.Properties.DashboardBody;
  const text = typeof body === 'string' ? body
    : body['Fn::Join'][1].map((part: unknown) => (typeof part === 'string' ? part : referenced(part))).join('');
  return JSON.parse(text).widgets;
}

/** The dashboard of the orchestrator in the README's "Alarms and freshness" example. */
export function exampleDashboardWidgets(): DashboardWidget[] {
  const stack = new Stack(new App(), 'Example', { env: { account: '123456789012', region: 'eu-west-1' } });
  const vpc = ec2.Vpc.fromVpcAttributes(stack, 'Vpc', { vpcId: 'vpc-1', availabilityZones: ['eu-west-1a'], privateSubnetIds: ['subnet-1'] });
  const secret = secretsmanager.Secret.fromSecretNameV2(stack, 'Secret', 'warehouse');
  new ItcOrchestrator(stack, 'Orchestrator', {
    vpc,
    database: OrchestratorDatabase.fromEndpoint({ host: 'warehouse.internal' }, { authentication: DatabaseAuthentication.fromSecret(secret) }),
    pipelines: [Pipeline.fromFunctionArn('Demand', 'arn:aws:lambda:eu-west-1:123456789012:function:demand')],
    resourcePrefix: 'sales',
    alarmOnRefreshRunsSkippedByLock: true,
    freshness: { maxAge: Duration.hours(26), views: ['reporting.daily_totals'] },
    dashboard: true,
  });
  return dashboardWidgets(Template.fromStack(stack));
}

export const DASHBOARD_PICTURE = join(__dirname, '..', 'docs', 'images', 'dashboard.svg');

if (require.main === module) {
  const out = process.argv[2] ?? DASHBOARD_PICTURE;
  mkdirSync(dirname(out), { recursive: true });
  writeFileSync(out, renderDashboardSvg(exampleDashboardWidgets(), 'sales (ITC orchestrator dashboard)'));
  console.log(`Wrote ${out}`);
}
