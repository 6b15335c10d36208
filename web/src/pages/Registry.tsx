import { type Place, placeCrumbs } from '../place.js';
import { Breadcrumbs, PageHeader, Tabs } from '../ui.js';
import { CollectionsTab } from './Artifacts.js';
import { AutomationsTab } from './Automations.js';
import { HistoryTab } from './History.js';
import { placeTabs, type Tab } from './Project.js';

export function RegistryPage({ place, tab }: { place: Place; tab: Tab }) {
  const tabs = placeTabs(place);
  const label = tabs.find((t) => t.id === tab)?.label ?? tabs[0].label;
  return (
    <>
      <Breadcrumbs items={[...placeCrumbs(place), { label }]} />
      <PageHeader title={place.name} kicker="Registry" />
      <Tabs items={tabs} current={tab} />
      {(tab === 'main' || tab === 'artifacts') && <CollectionsTab place={place} />}
      {tab === 'automations' && <AutomationsTab place={place} />}
      {tab === 'history' && <HistoryTab place={place} />}
    </>
  );
}
