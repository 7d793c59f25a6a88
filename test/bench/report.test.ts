import { expect } from 'chai'

import { type BenchResult, compareCases, quartiles, rotation } from '../../bench/lib.js'
import {
  compareRuns,
  formatComparison,
  MIN_THRESHOLD,
  NO_SAMPLES_THRESHOLD,
  noiseBand,
  README_END,
  README_START,
  renderReadmeSection,
  replaceGenerated,
  type RunFile,
} from '../../bench/report.js'
import { parseArgs } from '../../bench/runner.js'

const machine: RunFile['machine'] = {
  node: 'v20.0.0',
  platform: 'linux',
  arch: 'x64',
  cpus: 2,
  cpuModel: 'test cpu',
  totalMemGiB: 8,
  loadStart: [1, 1, 1],
  loadEnd: [2, 2, 2],
}
const runOf = (startedAt: string, benches: Record<string, BenchResult[]>): RunFile => ({
  version: 1,
  startedAt,
  endedAt: startedAt,
  machine,
  benches,
})

describe('bench harness', () => {
  describe('quartiles and rotation', () => {
    it('interpolates quartiles between ranks', () => {
      expect(quartiles([1, 2, 3, 4, 5])).to.deep.equal({ q1: 2, median: 3, q3: 4 })
      expect(quartiles([4, 1, 3, 2])).to.deep.equal({ q1: 1.75, median: 2.5, q3: 3.25 })
      expect(Number.isNaN(quartiles([]).median)).to.equal(true)
    })
    it('rotates the order of the cases per repeat', () => {
      expect(rotation(3, 0)).to.deep.equal([0, 1, 2])
      expect(rotation(3, 1)).to.deep.equal([1, 2, 0])
      expect(rotation(3, 5)).to.deep.equal([2, 0, 1])
    })
  })

  describe('compareCases', () => {
    it('warms every case up before each timed sample, rotating, and reports medians of per-repeat ratios', async () => {
      const calls: string[] = []
      const c = await compareCases({
        baseline: { name: 'a', run: () => calls.push('a') },
        cases: [{ name: 'b', run: () => calls.push('b'), ops: 2 }],
        repeats: 3,
        warmup: 1,
      })
      // per repeat: each case once untimed, once timed; repeat 1 starts with b
      expect(calls).to.deep.equal(['a', 'a', 'b', 'b', 'b', 'b', 'a', 'a', 'a', 'a', 'b', 'b'])
      expect(c.baseline.samples).to.have.length(3)
      expect(c.baseline.ratios).to.deep.equal([1, 1, 1])
      const b = c.cases[0]!
      expect(b.ratios).to.deep.equal(b.samples.map((x, r) => x / c.baseline.samples[r]!))
      expect(b.ratio).to.equal(quartiles(b.ratios).median)
    })
  })

  describe('noise band', () => {
    const row = (ratio: number, samples?: number[]): BenchResult => ({
      name: 'r',
      value: 1,
      unit: 'ns',
      baseline: 'x',
      ratio,
      ...(samples === undefined ? {} : { samples }),
    })
    it('is the larger relative IQR of the two rows', () => {
      // IQR of [1.8, 1.9, 2, 2.1, 2.2] = 0.2 over a figure of 2: 10 %
      expect(noiseBand(row(2, [1.8, 1.9, 2, 2.1, 2.2]), row(2, [2, 2, 2, 2, 2]))).to.be.closeTo(0.1, 1e-9)
    })
    it('is never below the minimum, and the fixed threshold without samples', () => {
      expect(noiseBand(row(2, [2, 2, 2]), row(2, [2, 2, 2]))).to.equal(MIN_THRESHOLD)
      expect(noiseBand(row(2), row(3))).to.equal(NO_SAMPLES_THRESHOLD)
    })
  })

  describe('compareRuns and formatComparison', () => {
    const tight = [2.9, 3, 3, 3, 3.1]
    const before = runOf('2026-12-01T10:00:00.000Z', {
      engine: [
        { name: 'moved', value: 300, unit: 'ns', baseline: 'loop', ratio: 3, samples: tight },
        { name: 'steady', value: 300, unit: 'ns', baseline: 'loop', ratio: 3, samples: tight },
        { name: 'gone', value: 1, unit: 'ns' },
      ],
    })
    const after = runOf('2026-12-02T10:00:00.000Z', {
      engine: [
        { name: 'moved', value: 200, unit: 'ns', baseline: 'loop', ratio: 2, samples: [1.9, 2, 2, 2, 2.1] },
        { name: 'steady', value: 310, unit: 'ns', baseline: 'loop', ratio: 3.05, samples: tight },
        { name: 'new', value: 1, unit: 'ns' },
      ],
    })
    it('reports a move only beyond the band', () => {
      const c = compareRuns(before, after)
      const byName = new Map(c.moves.map((m) => [m.name, m]))
      expect(byName.get('moved')?.moved).to.equal(true)
      expect(byName.get('moved')?.change).to.be.closeTo(-1 / 3, 1e-9)
      expect(byName.get('steady')?.moved).to.equal(false)
      expect(c.onlyBefore).to.deep.equal(['engine / gone'])
      expect(c.onlyAfter).to.deep.equal(['engine / new'])
    })
    it('prints the moved rows and counts the rest', () => {
      const text = formatComparison(compareRuns(before, after), 'old.json', 'new.json')
      expect(text).to.contain('1 of 2 rows moved beyond the noise')
      expect(text).to.match(/engine\s+moved\s+3\.00\s+2\.00\s+-33\.3 %/)
      expect(text).not.to.match(/engine\s+steady/)
      expect(text).to.contain('1 rows within the noise')
      expect(text).to.contain('only in old.json: engine / gone')
    })
  })

  describe('README regeneration', () => {
    const older = runOf('2026-12-01T10:00:00.000Z', {
      engine: [{ name: 'old engine row', value: 1, unit: 'ns' }],
      split: [{ name: 'split row', value: 2, unit: 'µs' }],
    })
    const newer = runOf('2026-12-02T10:00:00.000Z', { engine: [{ name: 'new engine row', value: 3, unit: 'ns' }] })
    it('takes each bench from the newest run that has it', () => {
      const section = renderReadmeSection([newer, older])
      expect(section).to.contain('new engine row')
      expect(section).not.to.contain('old engine row')
      expect(section).to.contain('split row')
      expect(section).to.contain('2026-12-01 10:00 UTC')
      expect(section).to.contain('load average 1.00 1.00 1.00 at the start')
    })
    it('rewrites only the text between the markers', () => {
      const readme = `# Benchmarks\n\nprose before\n\n${README_START}\n\nold figures\n\n${README_END}\n\nprose after\n`
      const out = replaceGenerated(readme, 'new figures')
      expect(out).to.equal(
        `# Benchmarks\n\nprose before\n\n${README_START}\n\nnew figures\n\n${README_END}\n\nprose after\n`,
      )
      expect(replaceGenerated(out, 'new figures')).to.equal(out)
    })
    it('appends the markers when they are missing', () => {
      expect(replaceGenerated('# Benchmarks\n', 'figures')).to.equal(
        `# Benchmarks\n\n${README_START}\n\nfigures\n\n${README_END}\n`,
      )
    })
  })

  describe('command line', () => {
    it('parses words, --compare, --to, --readme, --no-save, --in-process and --child', () => {
      expect(parseArgs(['engine', 'split'])).to.deep.equal({ words: ['engine', 'split'], save: true, inProcess: false })
      expect(parseArgs(['engine', '--compare', 'a.json', '--no-save'])).to.deep.equal({
        words: ['engine'],
        compare: 'a.json',
        save: false,
        inProcess: false,
      })
      expect(parseArgs(['--compare', 'a.json', '--to', 'b.json'])).to.deep.equal({
        words: [],
        save: true,
        inProcess: false,
        compare: 'a.json',
        to: 'b.json',
      })
      expect(parseArgs(['--readme', 'x.json'])).to.deep.equal({
        words: [],
        save: true,
        inProcess: false,
        readme: ['x.json'],
      })
      expect(parseArgs(['--in-process', 'engine'])).to.deep.equal({ words: ['engine'], save: true, inProcess: true })
      expect(parseArgs(['--child', 'engine', '/tmp/rows.json'])).to.deep.equal({
        words: [],
        save: true,
        inProcess: false,
        child: { name: 'engine', file: '/tmp/rows.json' },
      })
      expect(() => parseArgs(['--child', 'engine'])).to.throw('--child needs a benchmark and a file')
      expect(() => parseArgs(['--compare'])).to.throw('--compare needs a file')
      expect(() => parseArgs(['--bogus'])).to.throw('unknown option --bogus')
    })
  })
})
