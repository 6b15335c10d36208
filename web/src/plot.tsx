import { useEffect, useRef } from 'react';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';

/** A uPlot line chart of one metric against `_step`, sized to its container. */
export function LinePlot({
  name,
  steps,
  values,
}: {
  name: string;
  steps: number[];
  values: (number | null)[];
}) {
  const box = useRef<HTMLDivElement>(null);
  useEffect(() => {
    const el = box.current;
    if (!el) return;
    const width = () => Math.max(240, el.clientWidth);
    const plot = new uPlot(
      {
        width: width(),
        height: 200,
        scales: { x: { time: false } },
        legend: { show: true },
        cursor: { drag: { x: true, y: false } },
        axes: [
          {
            stroke: '#6b7280',
            grid: { stroke: '#eef0f3' },
            ticks: { stroke: '#e5e7eb' },
            label: 'step',
            labelSize: 18,
          },
          { stroke: '#6b7280', grid: { stroke: '#eef0f3' }, ticks: { stroke: '#e5e7eb' }, size: 56 },
        ],
        series: [
          { label: 'step' },
          {
            label: name,
            stroke: '#4f46e5',
            width: 1.75,
            spanGaps: true,
            points: { show: steps.length < 40 },
          },
        ],
      },
      [steps, values],
      el,
    );
    const ro = new ResizeObserver(() => plot.setSize({ width: width(), height: 200 }));
    ro.observe(el);
    return () => {
      ro.disconnect();
      plot.destroy();
    };
  }, [name, steps, values]);
  return <div ref={box} className="plot" role="img" aria-label={`Line plot of ${name} by step`} />;
}
