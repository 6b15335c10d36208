import type { Scope } from './api.js';
import { path } from './router.js';
import type { Crumb } from './ui.js';

/**
 * Where automations and history live: a project, a registry, or the team itself (team-scope
 * automations, which watch every project and registry of the team). For a team, `name` is the team.
 */
export type Place = { team: string; kind: 'project' | 'registry' | 'team'; name: string };

export function teamPlace(team: string): Place {
  return { team, kind: 'team', name: team };
}

export function placeBase(p: Place): string {
  if (p.kind === 'team') return path('teams', p.team);
  return path('teams', p.team, p.kind === 'project' ? 'projects' : 'registries', p.name);
}

export function placeScope(p: Place): Scope {
  if (p.kind === 'team') return { type: 'TEAM', team: p.team };
  return p.kind === 'project'
    ? { type: 'PROJECT', team: p.team, project: p.name }
    : { type: 'REGISTRY', team: p.team, registry: p.name };
}

/** The place an automation belongs to, from its scope (a collection belongs to its project or registry). */
export function placeOfScope(s: Scope): Place {
  if (s.type === 'TEAM') return teamPlace(s.team);
  if (s.project) return { team: s.team, kind: 'project', name: s.project };
  if (s.registry) return { team: s.team, kind: 'registry', name: s.registry };
  return teamPlace(s.team);
}

export function samePlace(a: Place, b: Place): boolean {
  return a.team === b.team && a.kind === b.kind && a.name === b.name;
}

/** Query string for lists filtered to this place (`project=` or `registry=`; none for the team). */
export function placeParam(p: Place): Record<string, string> {
  if (p.kind === 'team') return {};
  return p.kind === 'project' ? { project: p.name } : { registry: p.name };
}

export function placeCrumbs(p: Place): Crumb[] {
  if (p.kind === 'team') return [{ label: p.team, to: path('teams', p.team) }];
  return [
    { label: p.team, to: path('teams', p.team) },
    { label: p.name, to: placeBase(p) },
  ];
}
