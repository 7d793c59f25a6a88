import { expect } from 'chai'
import fc from 'fast-check'

import { mintWorkflowId, randomUuid, uuidFromBytes } from '../../src/mintWorkflowId.js'

const V4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/

describe('mintWorkflowId', () => {
  it('mints distinct version-4 UUIDs, prefixed when a prefix is given', () => {
    const a = mintWorkflowId()
    expect(a).to.match(V4)
    expect(mintWorkflowId()).to.not.equal(a)
    expect(mintWorkflowId('nightly' as never)).to.match(/^nightly:[0-9a-f-]{36}$/)
  })
})

describe('randomUuid', () => {
  it('uses crypto.randomUUID where the platform has it', () => {
    expect(randomUuid({ randomUUID: () => 'from-randomUUID', getRandomValues: (a) => a })).to.equal('from-randomUUID')
  })

  it('builds a version-4 UUID from getRandomValues where randomUUID is missing (a browser page over http)', () => {
    const crypto = { getRandomValues: (a: Uint8Array) => globalThis.crypto.getRandomValues(a) }
    const ids = new Set(Array.from({ length: 100 }, () => randomUuid(crypto)))
    expect(ids.size).to.equal(100)
    for (const id of ids) expect(id).to.match(V4)
  })
})

describe('uuidFromBytes', () => {
  it('writes the bytes as hex, with the version and variant bits set', () => {
    expect(uuidFromBytes(new Uint8Array(16).fill(0xff))).to.equal('ffffffff-ffff-4fff-bfff-ffffffffffff')
    expect(uuidFromBytes(new Uint8Array(16))).to.equal('00000000-0000-4000-8000-000000000000')
    expect(uuidFromBytes(Uint8Array.from({ length: 16 }, (_, i) => i))).to.equal('00010203-0405-4607-8809-0a0b0c0d0e0f')
  })

  it('gives a version-4 UUID for any 16 bytes', () => {
    fc.assert(fc.property(fc.uint8Array({ minLength: 16, maxLength: 16 }), (b) => V4.test(uuidFromBytes(b))))
  })
})
