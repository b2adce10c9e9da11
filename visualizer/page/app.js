// The visualizer page: draws the laid-out statechart from /graph.json as SVG,
// then follows the inspection messages relayed over /ws. Plain DOM, no framework,
// nothing loaded from anywhere but this server. The modules, by duty: draw.js (the SVG),
// charts.js (active states), context.js, timeline.js, controls.js (the side panels),
// wire.js (the server); view.js holds what they share.
import { addCompanion } from './charts.js?token={{token}}';
import { tick } from './context.js?token={{token}}';
import { $ } from './dom.js?token={{token}}';
import { drawChart } from './draw.js?token={{token}}';
import { view } from './view.js?token={{token}}';
import { connect, fetchJson, setLink } from './wire.js?token={{token}}';

async function main() {
  drawChart(await fetchJson('/graph.json'), view, $('chart'));
  for (const layout of await fetchJson('/companions.json')) addCompanion(layout);
  document.documentElement.dataset.chart = 'drawn';
  connect();
  setInterval(tick, 100);
}

main().catch((error) => {
  setLink('down', `error: ${error.message}`);
  console.error(error);
});
