import type { Scope } from './api.js';
import { path } from './router.js';
import type { Crumb } from './ui.js';

/** A project or a registry: the two places that hold automations and history. */
export type Place = { team: string; kind: 'project' | 'registry'; name: string };

export function placeBase(p: Place): string {
  return path('teams', p.team, p.kind === 'project' ? 'projects' : 'registries', p.name);
}

export function placeScope(p: Place): Scope {
  return p.kind === 'project'
    ? { type: 'PROJECT', team: p.team, project: p.name }
    : { type: 'REGISTRY', team: p.team, registry: p.name };
}

/** Query string for lists filtered to this place (`project=` or `registry=`). */
export function placeParam(p: Place): Record<string, string> {
  return p.kind === 'project' ? { project: p.name } : { registry: p.name };
}

export function placeCrumbs(p: Place): Crumb[] {
  return [
    { label: p.team, to: path('teams', p.team) },
    { label: p.name, to: placeBase(p) },
  ];
}
