// Writes the seed corpora of the fuzz targets: valid messages of every type
// of each protocol, valid keyring files, flag sets and admin requests, plus a
// few near-misses. Seeds are what libFuzzer starts from, so each one should
// reach a different part of its decoder.
//
//   bazel run //fuzz:gen_corpus -- "$PWD/fuzz/corpus"
//
// Each fuzz/corpus/<target>/ directory is emptied first, except files named
// regress-* (minimised inputs of past findings, kept by hand). Output is
// deterministic (protobuf maps serialised in key order), so re-running it
// changes nothing unless this file changed.

#include <sys/stat.h>
#include <dirent.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/io/zero_copy_stream_impl_lite.h>
#include <string>
#include <vector>

#include "fuzz/admin_target.h"
#include "fuzz/input.h"
#include "fuzz/membership_ops.h"
#include "fuzz/metadata_ops.h"
#include "membership/membership.pb.h"
#include "metadata/metadata.pb.h"
#include "transport/codec.h"
#include "transport/crypto.h"
#include "transport/envelope.pb.h"
#include "userevents/codec.h"

namespace {

using pekonode::fuzz::writer;
namespace mops = pekonode::fuzz::membership_ops;
namespace dops = pekonode::fuzz::metadata_ops;

std::string root;
size_t written = 0;

// Protobuf maps serialise in hash order unless asked not to.
std::string det(const google::protobuf::MessageLite& m) {
  std::string out;
  {
    google::protobuf::io::StringOutputStream sink{&out};
    google::protobuf::io::CodedOutputStream coded{&sink};
    coded.SetSerializationDeterministic(true);
    m.SerializeToCodedStream(&coded);
  }
  return out;
}

void reset_dir(const std::string& target) {
  auto dir = root + "/" + target;
  ::mkdir(root.c_str(), 0755);
  ::mkdir(dir.c_str(), 0755);
  if (DIR* d = ::opendir(dir.c_str())) {
    while (auto* e = ::readdir(d)) {
      std::string n = e->d_name;
      if (n != "." && n != ".." && n.rfind("regress-", 0) != 0)
        ::unlink((dir + "/" + n).c_str());
    }
    ::closedir(d);
  }
}

void put(const std::string& target, const std::string& name,
         const std::string& bytes) {
  auto path = root + "/" + target + "/" + name;
  std::ofstream out{path, std::ios::binary};
  out << bytes;
  if (!out) {
    std::fprintf(stderr, "gen_corpus: cannot write %s\n", path.c_str());
    std::exit(1);
  }
  ++written;
}

// -- membership packets ---------------------------------------------------------

namespace mb = pekonode::membership;

mb::Update upd(const std::string& name, uint64_t inc, mb::MemberState st,
               const std::string& from = {}) {
  mb::Update u;
  u.set_name(name);
  u.set_addr(name + ":1");
  u.set_incarnation(inc);
  u.set_state(st);
  u.set_from(from);
  return u;
}

// One Packet of every body kind (plus updates-only), as peer `sender` sends.
std::vector<std::pair<std::string, mb::Packet>> membership_packets(
  const std::string& sender) {
  std::vector<std::pair<std::string, mb::Packet>> r;
  auto add = [&](const std::string& name) -> mb::Packet& {
    r.emplace_back(name, mb::Packet{});
    r.back().second.set_sender(sender);
    return r.back().second;
  };
  {
    auto& p = add("updates");
    auto u = upd("p3", 2, mb::ALIVE);
    (*u.mutable_tags())["zone"] = "eu-1";
    *p.add_updates() = u;
    *p.add_updates() = upd("p4", 2, mb::SUSPECT, sender);
    *p.add_updates() = upd("p5", 2, mb::DEAD, sender);
    *p.add_updates() = upd("p6", 4, mb::LEFT);
  }
  {
    auto& p = add("ping");
    p.mutable_ping()->set_seq(1);
    p.mutable_ping()->set_target("me");
    *p.add_updates() = upd("p8", 2, mb::SUSPECT, "p3"); // a buddy ping
  }
  add("ack").mutable_ack()->set_seq(1);
  add("nack").mutable_nack()->set_seq(1);
  {
    auto& p = add("ping-req");
    p.mutable_ping_req()->set_seq(9);
    p.mutable_ping_req()->set_target("p2");
    p.mutable_ping_req()->set_target_addr("p2:1");
  }
  {
    auto& p = add("join");
    p.mutable_join()->set_reconnect(false);
    *p.add_updates() = upd(sender, 1, mb::ALIVE);
  }
  {
    auto& p = add("reconnect");
    p.mutable_join()->set_reconnect(true);
    *p.add_updates() = upd(sender, 1, mb::ALIVE);
  }
  {
    auto& p = add("state-page");
    auto* s = p.mutable_state();
    s->set_index(0);
    s->set_total(2);
    s->set_join_reply(true);
    for (int i = 0; i < 4; ++i)
      *s->add_members() = upd("q" + std::to_string(i), 1, mb::ALIVE);
    *s->add_members() = upd("me", 0, mb::ALIVE);
  }
  {
    auto& p = add("digest");
    p.mutable_digest()->set_hash(0x0123456789abcdefULL);
    p.mutable_digest()->set_count(13);
  }
  {
    auto& p = add("buckets");
    for (int i = 0; i < 64; ++i)
      p.mutable_buckets()->add_hashes(0x9e3779b97f4a7c15ULL * (i + 1));
  }
  {
    auto& p = add("want");
    for (uint32_t b : {0u, 7u, 63u})
      p.mutable_want()->add_buckets(b);
  }
  {
    auto& p = add("leave-notice");
    p.mutable_leave()->set_seq(3);
    *p.add_updates() = upd(sender, 2, mb::LEFT);
  }
  add("leave-ack").mutable_leave_ack()->set_seq(3);
  {
    auto& p = add("accuses-me");
    *p.add_updates() = upd("me", 5, mb::SUSPECT, sender);
  }
  return r;
}

void gen_membership() {
  const std::string t = "membership";
  reset_dir(t);
  const char* scen[] = {"steady", "indirect", "leaving", "joining"};
  for (uint8_t s = 0; s < 4; ++s) {
    // Every packet kind from p1 (a member) in every scenario.
    for (auto& [name, p] : membership_packets("p1")) {
      writer w;
      w.u8(s).u8(mops::packet).u8(1).blob(det(p));
      // ... then time passes, so its timers run.
      w.u8(mops::advance).u16(3000).u8(0);
      put(t, std::string{scen[s]} + "-packet-" + name, w.str());
    }
    // Answer our own probes, ping-reqs, notices and join requests.
    writer w;
    w.u8(s);
    for (int i = 0; i < 8; ++i)
      w.u8(mops::reply).u8(static_cast<uint8_t>(i * 9)).blob({});
    w.u8(mops::advance).u16(2000).u8(0);
    for (int i = 0; i < 8; ++i)
      w.u8(mops::reply).u8(static_cast<uint8_t>(0x80 | (i * 5))).blob({});
    put(t, std::string{scen[s]} + "-replies", w.str());
  }
  // Claims with every incarnation kind and state, about members and self.
  for (uint8_t kind = 0; kind < 5; ++kind)
    for (uint8_t st = 0; st < 4; ++st) {
      if (kind == mops::inc_max)
        continue; // known finding M1 (fuzz/README.md): see regress-*
      writer w;
      w.u8(mops::steady).u8(mops::claim).u8(2).u8(kind == 4 ? 12 : 3 + st).u8(kind)
        .u64(7).u8(st).blob(st == 0 ? "zoneeu" : "");
      put(t, "claim-kind" + std::to_string(kind) + "-state" + std::to_string(st),
          w.str());
    }
  {
    writer w; // a name conflict: someone else claims our name at :2
    w.u8(mops::steady).u8(mops::claim).u8(5).u8(12).u8(mops::inc_next | 0x10)
      .u64(0).u8(0).blob({});
    put(t, "claim-name-conflict", w.str());
  }
  {
    writer w; // fill the table with fresh names
    w.u8(mops::steady);
    for (int i = 0; i < 40; ++i)
      w.u8(mops::claim).u8(static_cast<uint8_t>(i)).u8(static_cast<uint8_t>(128 + i))
        .u8(mops::inc_zero).u64(0).u8(0).blob({});
    put(t, "claim-fill-table", w.str());
  }
  for (uint8_t k = 0; k < 11; ++k) {
    writer w;
    w.u8(mops::steady).u8(mops::body).u8(k % 4).u8(k).u64(77).u64(3).u8(k);
    w.u8(mops::advance).u16(1500).u8(0);
    put(t, "body-kind" + std::to_string(k), w.str());
  }
  for (uint8_t call = 0; call < 4; ++call) {
    writer w;
    w.u8(mops::steady).u8(mops::api).u8(call).blob(call == 0 ? "kv" : "s3:1");
    w.u8(mops::advance).u16(2000).u8(0).u8(mops::api).u8(mops::rejoin).blob({});
    w.u8(mops::advance).u16(5000).u8(0);
    put(t, "api-call" + std::to_string(call), w.str());
  }
  {
    writer w; // a long stall, then suspicion timeouts and retention
    w.u8(mops::indirect).u8(mops::advance).u16(90).u8(1);
    w.u8(mops::advance).u16(9000).u8(0).u8(mops::advance).u16(4000).u8(1);
    put(t, "advance-stalls", w.str());
  }
}

// -- metadata messages ------------------------------------------------------------

namespace md = pekonode::metadata;

void set_ver(md::Version* v, uint64_t hlc, const std::string& origin) {
  v->set_hlc(hlc);
  v->set_origin(origin);
}

constexpr uint64_t wall0 = 1'700'000'000'000ULL;
uint64_t hlc(uint64_t ms, uint16_t logical) { return (ms << 16) | logical; }

std::vector<std::pair<std::string, md::Message>> metadata_messages() {
  std::vector<std::pair<std::string, md::Message>> r;
  auto add = [&](const std::string& n) -> md::Message& {
    r.emplace_back(n, md::Message{});
    return r.back().second;
  };
  {
    auto& m = add("rumour");
    auto* e = m.mutable_rumour()->add_entries();
    e->set_key("k1");
    set_ver(e->mutable_version(), hlc(wall0 + 5, 0), "a");
    e->set_value("newer");
    auto* d = m.mutable_rumour()->add_entries();
    d->set_key("k2");
    set_ver(d->mutable_version(), hlc(wall0 + 5, 1), "a");
    d->set_tombstone(true);
  }
  {
    auto& m = add("push");
    auto* e = m.mutable_push()->add_entries();
    e->set_key("fresh");
    set_ver(e->mutable_version(), hlc(wall0 - 10, 0), "b");
    e->set_value(std::string(300, 'p'));
  }
  {
    auto& m = add("announce");
    auto* a = m.mutable_push()->add_announces();
    a->set_key("big3");
    set_ver(a->mutable_version(), hlc(wall0 - 1, 0), "c");
    a->set_size(4000);
    a->set_hash_lo(1);
    a->set_hash_hi(2);
  }
  {
    auto& m = add("syn");
    m.mutable_syn()->set_digest_lo(11);
    m.mutable_syn()->set_digest_hi(12);
    m.mutable_syn()->set_count(6);
  }
  {
    auto& m = add("ack");
    m.mutable_ack()->set_first_bucket(0);
    for (int i = 0; i < 64; ++i)
      m.mutable_ack()->add_buckets(static_cast<uint64_t>(i) * 0x1234567ULL);
  }
  {
    auto& m = add("ack2");
    auto* rg = m.mutable_ack2()->add_ranges();
    rg->set_bucket(3);
    rg->set_from_start(true);
    rg->set_to_end(true);
    auto* kv = rg->add_keys();
    kv->set_key("k1");
    set_ver(kv->mutable_version(), hlc(wall0 - 100, 0), "me");
  }
  {
    auto& m = add("want");
    m.mutable_want()->add_keys("k1");
    m.mutable_want()->add_keys("local-big");
  }
  {
    auto& m = add("chunk-request");
    auto* q = m.mutable_chunk_request();
    q->set_key("local-big");
    set_ver(q->mutable_version(), hlc(wall0, 0), "me");
    q->set_chunk_size(1000);
    for (uint32_t i : {0u, 1u, 2u})
      q->add_indices(i);
  }
  {
    auto& m = add("chunk");
    auto* c = m.mutable_chunk();
    c->set_key("big");
    set_ver(c->mutable_version(), hlc(wall0 - 1000, 3), "a");
    c->set_index(0);
    c->set_chunk_size(1100);
    c->set_total_size(5000);
    c->set_data(std::string(1100, 'x'));
  }
  {
    auto& m = add("chunk-gone");
    m.mutable_chunk_gone()->set_key("big");
    set_ver(m.mutable_chunk_gone()->mutable_version(), hlc(wall0 - 1000, 3), "a");
  }
  {
    auto& m = add("hold");
    m.mutable_hold()->set_id(0x1234);
    auto* e = m.mutable_hold()->mutable_updates()->add_entries();
    e->set_key("held");
    set_ver(e->mutable_version(), hlc(wall0 - 5, 0), "a");
    e->set_value("keep me");
  }
  {
    auto& m = add("hold-ack");
    m.mutable_hold_ack()->set_id(0x1234);
    m.mutable_hold_ack()->set_key("k1");
    set_ver(m.mutable_hold_ack()->mutable_version(), hlc(wall0, 0), "me");
  }
  return r;
}

void gen_metadata() {
  const std::string t = "metadata";
  reset_dir(t);
  for (auto& [name, m] : metadata_messages()) {
    writer w;
    w.u8(dops::message).u8(0).blob(det(m));
    w.u8(dops::advance).u16(1500).u8(0);
    put(t, "message-" + name, w.str());
  }
  {
    writer w; // every chunk of "big", in order: the transfer completes
    for (uint8_t i = 0; i < 5; ++i)
      w.u8(dops::chunk).u8(0).u8(i).u8(dops::exact).u64(0);
    w.u8(dops::advance).u16(500).u8(0);
    put(t, "chunks-complete", w.str());
  }
  {
    writer w; // out of order, with a duplicate, from two sources
    for (uint8_t i : {3, 1, 1, 4, 0, 2})
      w.u8(dops::chunk).u8(i % 2).u8(i).u8(dops::exact).u64(0);
    put(t, "chunks-shuffled", w.str());
  }
  for (uint8_t how = 1; how < 8; ++how) {
    writer w;
    w.u8(dops::chunk).u8(0).u8(0).u8(how).u64(0x0000000500000007ULL);
    for (uint8_t i = 1; i < 5; ++i)
      w.u8(dops::chunk).u8(0).u8(i).u8(dops::exact).u64(0);
    put(t, "chunk-bad-" + std::to_string(how), w.str());
  }
  for (uint8_t k = 0; k < 12; ++k) {
    writer w;
    w.u8(dops::body).u8(k % 3).u8(k).u8(k < 5 ? 3 : 0).u64(k | 1).u64(40).blob("value");
    w.u8(dops::advance).u16(1200).u8(0);
    put(t, "body-kind" + std::to_string(k), w.str());
  }
  {
    writer w; // answer our own chunk requests, anti-entropy, pushes
    for (int i = 0; i < 10; ++i)
      w.u8(dops::reply).u8(static_cast<uint8_t>(i * 3));
    w.u8(dops::advance).u16(3000).u8(0);
    for (int i = 0; i < 6; ++i)
      w.u8(dops::reply).u8(static_cast<uint8_t>(60 - i));
    put(t, "replies", w.str());
  }
  {
    writer w; // local writes, deletes, reads
    w.u8(dops::local).u8(dops::put).u8(0).blob("v-new");
    w.u8(dops::local).u8(dops::put).u8(200).blob(std::string(1500, 'z'));
    w.u8(dops::local).u8(dops::del).u8(1).blob({});
    w.u8(dops::local).u8(dops::get).u8(0).blob({});
    w.u8(dops::advance).u16(800).u8(0);
    put(t, "local-writes", w.str());
  }
  {
    writer w; // replicated writes with cas, acked by the peers' echo and
              // by forged acks, then the deadline
    std::string replicas3{'\x02', '\x00'};   // K=3, no cas
    std::string create2{'\x01', '\x01'};     // K=2, create only
    std::string cas_live{'\x01', '\x02'};    // K=2, the live version
    std::string del_stale{'\x12', '\x03'};   // K=3 delete, stale version
    w.u8(dops::local).u8(dops::write).u8(0).blob(replicas3);
    w.u8(dops::local).u8(dops::write).u8(9).blob(create2);
    w.u8(dops::local).u8(dops::write).u8(9).blob(cas_live);
    w.u8(dops::local).u8(dops::write).u8(1).blob(del_stale);
    for (int i = 0; i < 8; ++i)
      w.u8(dops::reply).u8(static_cast<uint8_t>(i));
    w.u8(dops::body).u8(0).u8(11).u8(9).u64(1).u64(1).blob({});
    w.u8(dops::body).u8(3).u8(11).u8(9).u64(1).u64(1).blob({});
    w.u8(dops::body).u8(1).u8(10).u8(9).u64(77).u64(0).blob("held");
    w.u8(dops::advance).u16(400).u8(0);
    put(t, "write-concern", w.str());
  }
  {
    writer w; // peers come and go, then a stall past the transfer timeout
    w.u8(dops::member).u8(0).u8(0).u8(dops::member).u8(130).u8(1);
    w.u8(dops::advance).u16(30).u8(1).u8(dops::advance).u16(2000).u8(0);
    put(t, "members-and-stall", w.str());
  }
}

// -- transport ---------------------------------------------------------------------

namespace tx = pekonode::transport;

std::vector<std::pair<std::string, std::string>> envelopes() {
  using pekonode::channel;
  std::vector<std::pair<std::string, std::string>> r;
  auto env = [](std::string sender, std::vector<tx::envelope_message> ms) {
    tx::envelope e;
    e.sender = std::move(sender);
    e.messages = std::move(ms);
    return tx::encode(e);
  };
  mb::Packet ping;
  ping.set_sender("p1");
  ping.mutable_ping()->set_seq(1);
  ping.mutable_ping()->set_target("me");
  md::Message syn;
  syn.mutable_syn()->set_count(2);
  r.emplace_back("membership", env("p1", {{channel::membership, det(ping)}}));
  r.emplace_back("metadata", env("p1", {{channel::metadata, det(syn)}}));
  r.emplace_back("both", env("node-7", {{channel::membership, det(ping)},
                                        {channel::metadata, det(syn)},
                                        {channel::membership, "x"}}));
  r.emplace_back("no-sender", env("", {{channel::metadata, "y"}}));
  r.emplace_back("utf8-sender", env("n\xc3\xb6\x64\x65-\xe2\x82\xac", {{channel::membership, ""}}));
  r.emplace_back("long-sender", env(std::string(128, 's'), {{channel::membership, "z"}}));
  std::vector<tx::envelope_message> many(64, {channel::membership, "m"});
  r.emplace_back("64-messages", env("p2", many));
  r.emplace_back("large-body", env("p2", {{channel::metadata, std::string(1200, 'b')}}));
  // Unknown fields the decoder must skip: envelope field 9 (varint) and 10
  // (fixed64), message field 5 (bytes).
  {
    tx::Envelope pb;
    pb.set_version(1);
    pb.set_sender("p3");
    auto* m = pb.add_messages();
    m->set_channel(1);
    m->set_body("q");
    std::string s = det(pb);
    s += std::string("\x48\x05\x51\x01\x02\x03\x04\x05\x06\x07\x08", 11);
    r.emplace_back("unknown-fields", s);
  }
  r.emplace_back("wrong-version", std::string("\x08\x02\x12\x01\x61", 5));
  r.emplace_back("unknown-channel", std::string("\x08\x01\x1a\x05\x08\x07\x12\x01x", 9));
  return r;
}

void gen_transport() {
  reset_dir("codec");
  for (auto& [n, e] : envelopes())
    put("codec", n, e);

  reset_dir("wire");
  const std::string label = "fuzz-cluster";
  for (auto& [n, e] : envelopes()) {
    put("wire", n, std::string("\x01", 1) + static_cast<char>(label.size()) + label + e);
    if (n == "membership" || n == "both")
      put("wire", n + "-no-label", std::string("\x01\x00", 2) + e);
  }
  put("wire", "other-label", std::string("\x01\x04prod", 6) + envelopes()[0].second);
  put("wire", "encrypted-format", std::string("\x02", 1) + std::string(40, 'e'));
  put("wire", "sealed-format", std::string("\x03", 1) + std::string(80, 'e'));
  put("wire", "truncated-label", std::string("\x01\x20short", 7));

  reset_dir("wire_keyed");
  // Mode 1: key choice, frame header (epoch, sequence, time, destination).
  auto keyed_header = [](uint8_t key, std::string_view dest) {
    writer w;
    w.u8(1).u8(key).u64(0x5eed5eed5eed5eedULL).u64(42).u64(1'800'000'000'000ULL);
    w.u8(static_cast<uint8_t>(dest.size())).raw(dest);
    return w.str();
  };
  for (auto& [n, e] : envelopes()) {
    put("wire_keyed", "sealed-" + n, keyed_header(0, "10.0.0.2:7946") + e);
    if (n == "both")
      put("wire_keyed", "sealed-old-key-" + n,
          keyed_header(1, "[2001:db8::1]:7946") + e);
  }
  put("wire_keyed", "sealed-no-destination", keyed_header(0, "") + envelopes()[0].second);
  put("wire_keyed", "tampered", std::string("\x02\x10\x00\x03", 4) + envelopes()[2].second);
  put("wire_keyed", "tampered-format", std::string("\x02\x00\x00\x01", 4) + envelopes()[0].second);
  put("wire_keyed", "raw-short", std::string("\x00\x02", 2) + std::string(20, 'n'));
  put("wire_keyed", "raw-frame", std::string("\x00\x02", 2) + std::string(80, 'n'));
  put("wire_keyed", "raw-plaintext", std::string("\x00\x01\x00", 3) + envelopes()[0].second);

  reset_dir("replay");
  {
    // In order, then repeated: every repeat refused.
    writer w;
    w.u8(0x07);
    for (int r = 0; r < 2; ++r)
      for (uint16_t s = 1; s <= 6; ++s)
        w.u8(0x80).u16(1500).u8(1).u16(s);
    put("replay", "repeats", w.str());
  }
  {
    // Old sender times, then times from the future.
    writer w;
    w.u8(0x03);
    for (uint16_t off : {0, 400, 2999, 2600, 1500})
      w.u8(0x90).u16(off).u8(0).u16(off);
    put("replay", "clock-window", w.str());
  }
  {
    // More senders and epochs than states: evictions raise the floor.
    writer w;
    w.u8(0x01);
    for (int i = 0; i < 16; ++i)
      w.u8(static_cast<uint8_t>(0x80 | (i & 0x0f))).u16(1500).u8(3).u16(
        static_cast<uint16_t>(1 + i / 16));
    for (int i = 0; i < 16; ++i)
      w.u8(static_cast<uint8_t>(0x80 | (i & 0x0f))).u16(1500).u8(0).u16(1);
    put("replay", "evictions", w.str());
  }
  {
    // A jump past the window, then numbers below it.
    writer w;
    w.u8(0x00);
    for (uint16_t s : {1, 2, 400, 3, 337, 336, 400})
      w.u8(0x80).u16(1500).u8(1).u16(s);
    put("replay", "window-jump", w.str());
  }

  reset_dir("keyring");
  // Keys as `pekoctl keygen` writes them (base64), and as `openssl rand -hex
  // 32` or `od` write them (hex); then each way a line can fail.
  const std::string ka = "fDEH3WLszO6fgaEy6NAUWsGydce61G5c7Q7y10gaesU=";
  const std::string kb = "xImSGnsOzEhmJWYjFtpkRfl2PHjL+Ahlt89QKAGFtl4=";
  const std::string ka_hex =
    "7c3107dd62ecccee9f81a132e8d0145ac1b275c7bad46e5ced0ef2d7481a7ac5";
  put("keyring", "one-key", ka + "\n");
  put("keyring", "rotation",
      "# new primary first\n" + kb + "\n\n# still accepted\n" + ka + "\n");
  put("keyring", "hex-key", ka_hex + "\n");
  put("keyring", "hex-upper-no-newline",
      "C489921A7B0ECC486625662316DA6445F9763C78CBF80865B7CF50280185B65E");
  put("keyring", "base64-no-padding", ka.substr(0, 43) + "\n");
  put("keyring", "crlf-and-spaces",
      "  " + ka + " \t\r\n\r\n\t" + ka_hex + "\r\n");
  put("keyring", "no-final-newline", ka + "\n" + kb);
  put("keyring", "only-comments", "# nothing here\n\n   \n#\n");
  put("keyring", "empty", "");
  // 'password' x4: 7 distinct byte values.
  put("keyring", "weak-repeated",
      ka + "\n" + "cGFzc3dvcmRwYXNzd29yZHBhc3N3b3JkcGFzc3dvcmQ=\n");
  // 15 distinct byte values (16 is the least accepted).
  put("keyring", "weak-fifteen-values",
      "gIGCg4SFhoeIiYqLjI2OgIGCg4SFhoeIiYqLjI2OgIE=\n");
  put("keyring", "weak-sixteen-values-ok",
      "gIGCg4SFhoeIiYqLjI2Oj4CBgoOEhYaHiImKi4yNjo8=\n");
  // "ABC...`": 32 distinct bytes, all printable ASCII.
  put("keyring", "weak-printable",
      "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVpbXF1eX2A=\n");
  put("keyring", "weak-zeros-hex", std::string(64, '0') + "\n");
  put("keyring", "passphrase", "correct horse battery staple\n");
  put("keyring", "bad-length-42", ka.substr(0, 42) + "\n");
  put("keyring", "bad-length-45", ka + "=\n");
  put("keyring", "bad-length-hex-63", ka_hex.substr(0, 63) + "\n");
  put("keyring", "bad-length-hex-66", ka_hex + "00\n");
  put("keyring", "bad-char-base64url", "fDEH3WLszO6fgaEy6NAUWsGydce61G5c7Q7y10gaes-\n");
  put("keyring", "bad-char-hex",
      "7c3107dd62ecccee9f81a132e8d0145ac1b275c7bad46e5ced0ef2d7481a7acg\n");
  put("keyring", "bad-padding-position", "fDEH3WLszO6fgaEy6NAUWsGydce61G5c7Q7y10gaes=U\n");
  put("keyring", "non-canonical-last-char", ka.substr(0, 42) + "V\n");
  put("keyring", "bad-line-after-good", ka + "\n# old\nnot-a-key\n" + kb + "\n");
  put("keyring", "hash-inside", ka + " # primary\n");
  put("keyring", "utf8-line", "s\xc3\xa9\x63ret-\xe2\x9c\x93\n");
}

// -- node options ------------------------------------------------------------------

void gen_options() {
  const std::string t = "options";
  reset_dir(t);
  struct flags {
    const char* name;
    std::vector<std::string> f; // name bind advertise join tags profile admin keyring label
    bool fault;
  };
  const flags sets[] = {
    {"minimal", {"node-1", "0.0.0.0:7946", "", "", "", "lan", "", "", ""}, false},
    {"full-ipv4", {"node-2", "10.0.0.2:7946", "10.0.0.2:7946",
                   "10.0.0.1:7946,seed.example.com:7946,[fe80::1]:7946",
                   "role=db,zone=eu-1,note=a\\,b\\=c", "local", "127.0.0.1:8080",
                   "/etc/pekonode/keyring", "prod"}, true},
    {"ipv6", {"n6", "[::]:0", "[2001:db8::7]:7946", "[::1]:1", "", "wan",
              "[::1]:0", "", ""}, false},
    {"bad-advertise", {"n", "0.0.0.0:1", "0.0.0.0:2", "", "", "lan", "", "", ""}, false},
    {"bad-tags", {"n", "0.0.0.0:1", "", "", "a=b=c", "lan", "", "", ""}, false},
    {"bad-join", {"n", "0.0.0.0:1", "", "a:1,,b:2", "", "lan", "", "", ""}, false},
  };
  for (auto& s : sets) {
    writer w;
    w.u8(0);
    for (auto& f : s.f)
      w.blob(f);
    w.u8(s.fault ? 1 : 0);
    put(t, "flags-" + std::string{s.name}, w.str());
  }
  const std::pair<const char*, const char*> texts[] = {
    {"ipv4", "127.0.0.1:7946"},       {"ipv6", "[::ffff:10.0.0.1]:80"},
    {"port-zero", "0.0.0.0:0"},       {"dns", "node-1.cluster.local:7946"},
    {"dns-fqdn", "example.com.:53"},  {"join-list", "a:1,b:2,a:1"},
    {"tags", "k=v,x=y"},              {"tags-escaped", "a\\,b=c\\\\d"},
    {"tags-utf8", "zone=z\xc3\xbcrich"}, {"profile", "local"},
    {"name", "node-7.eu"},            {"bad-port", "1.2.3.4:65536"},
  };
  for (auto& [n, text] : texts)
    put(t, std::string{"text-"} + n, std::string("\x01", 1) + text);
}

// -- user events and queries -------------------------------------------------------

void gen_userevents() {
  const std::string t = "userevents";
  reset_dir(t);
  namespace ue = pekonode::userevents;
  auto event = [](std::string name, std::string payload, std::string origin,
                  uint64_t id, bool coalesce = false) {
    ue::wire_event w;
    w.ev.name = std::move(name);
    w.ev.payload = std::move(payload);
    w.ev.origin = std::move(origin);
    w.ev.id = id;
    w.ev.ltime = id;
    w.ev.coalesce = coalesce;
    w.age_ms = 20;
    return w;
  };
  auto query = [](std::string origin, std::string addr, std::string node,
                  ue::tag_filters tags) {
    ue::wire_event w;
    w.ev.kind = ue::event_kind::query;
    w.ev.name = "uptime";
    w.ev.payload = "p";
    w.ev.origin = std::move(origin);
    w.ev.id = 77;
    w.ev.ltime = 9;
    w.ev.origin_addr = std::move(addr);
    w.ev.timeout_ms = 2000;
    w.ev.node_filter = std::move(node);
    w.ev.tags = std::move(tags);
    return w;
  };
  // Operations (see userevents_fuzzer.cc): 0 packet from n1, 1 from a
  // stranger, 2 advance time, 3 publish, 4 query, 5 answer.
  auto from_n1 = [](writer& w, const std::string& bytes) { w.u8(0).blob(bytes); };
  auto later = [](writer& w, uint16_t ms) { w.u8(2).u16(ms); };
  {
    writer w;
    from_n1(w, ue::encode_gossip({event("deploy", "v1", "n2", 1)}));
    from_n1(w, ue::encode_gossip({event("deploy", "v1", "n2", 1)}));
    later(w, 300);
    put(t, "gossip-duplicate", w.str());
  }
  {
    writer w;
    from_n1(w, ue::encode_gossip({event("cfg", "a", "n1", 1, true),
                                  event("cfg", "b", "n2", 2, true)}));
    later(w, 1500);
    put(t, "gossip-coalesce", w.str());
  }
  {
    writer w;
    from_n1(w, ue::encode_gossip({query("n1", "10.0.0.2:7946", "n[0-9]",
                                        {{"role", "web|db"}})}));
    w.u8(5).blob("answer");
    later(w, 2500);
    put(t, "query-match-answer", w.str());
  }
  {
    writer w;
    from_n1(w, ue::encode_gossip({query("n1", "10.0.0.200:53", "", {})}));
    put(t, "query-foreign-ack-address", w.str());
  }
  {
    writer w;
    from_n1(w, ue::encode_gossip({query("n2", "10.0.0.3:7946", "(a*)*b",
                                        {{"zone", "("}})}));
    put(t, "query-hostile-patterns", w.str());
  }
  {
    writer w;
    w.u8(3).blob("deploy").blob("payload").u8(0);
    later(w, 1200);
    from_n1(w, ue::encode_sync({}));
    from_n1(w, ue::encode_sync({1, 2, 3}));
    from_n1(w, ue::encode_want({pekonode::userevents::sync_id("n0", 1)}));
    put(t, "publish-sync-want", w.str());
  }
  {
    writer w;
    w.u8(4).blob("ping").blob("").blob("role").blob("web").u16(1000);
    from_n1(w, ue::encode_ack(5, true));
    from_n1(w, ue::encode_response(5, "forged"));
    later(w, 1500);
    put(t, "query-local-forged-replies", w.str());
  }
  {
    writer w;
    w.u8(1).blob(ue::encode_gossip({event("e", "x", "stranger", 3)}));
    from_n1(w, std::string("\x0a\x03\x0a\x01\xff", 5));
    put(t, "stranger-and-garbage", w.str());
  }
}

// -- admin API ---------------------------------------------------------------------

void gen_admin() {
  const std::string t = "admin";
  reset_dir(t);
  using pekonode::fuzz::admin_request;
  auto req = [](std::string method, std::string target, std::string body = {},
                std::vector<std::pair<std::string, std::string>> headers = {}) {
    admin_request r;
    r.method = std::move(method);
    r.target = std::move(target);
    r.body = std::move(body);
    r.headers = std::move(headers);
    return r;
  };
  const std::string bearer = "Bearer " + std::string{pekonode::fuzz::admin_fuzz_token};
  using headers = std::vector<std::pair<std::string, std::string>>;
  const headers auth{{"Authorization", bearer}};
  const headers json_auth{{"Content-Type", "application/json"}, {"Authorization", bearer}};
  const std::pair<const char*, admin_request> reqs[] = {
    {"health", req("GET", "/v1/health")},
    {"health-ready", req("GET", "/v1/health/ready")},
    {"self", req("GET", "/v1/self")},
    {"members", req("GET", "/v1/members")},
    {"kv-list", req("GET", "/v1/kv")},
    {"kv-list-prefix", req("GET", "/v1/kv?prefix=config%2F&recurse=1")},
    {"kv-recurse-key", req("GET", "/v1/kv/config?recurse=true")},
    {"kv-watch", req("GET", "/v1/kv?watch=1&index=3&wait=500ms&prefix=a%2F")},
    {"kv-watch-bad-wait", req("GET", "/v1/kv?watch=true&wait=10x")},
    {"kv-unknown-param", req("GET", "/v1/kv?cas=1&prefix=a&prefix=b")},
    {"kv-get", req("GET", "/v1/kv/config/db")},
    {"kv-head", req("HEAD", "/v1/kv/k")},
    {"kv-put", req("PUT", "/v1/kv/config%2Fdb", "value bytes",
                   {{"Content-Type", "application/octet-stream"}})},
    {"kv-put-token", req("PUT", "/v1/kv/a%20b", "v", auth)},
    {"kv-put-empty-key", req("PUT", "/v1/kv/", "v")},
    {"kv-put-bad-escape", req("PUT", "/v1/kv/%zz", "v")},
    {"kv-put-large", req("PUT", "/v1/kv/big", std::string(2500, 'v'))},
    {"kv-delete", req("DELETE", "/v1/kv/k")},
    {"kv-patch", req("PATCH", "/v1/kv/k", "x")},
    {"metadata-get", req("GET", "/v1/metadata")},
    {"metadata-put", req("PUT", "/v1/metadata", "{\"any\":\"blob\"}")},
    {"join", req("POST", "/v1/join", "{\"seeds\":[\"10.0.0.1:7946\",\"seed.example:1\",\"[::1]:2\"]}",
                 {{"Content-Type", "application/json"}})},
    {"join-wait", req("POST", "/v1/join?wait=2s", "{\"seeds\":[\"127.0.0.1:7946\"]}", json_auth)},
    {"join-bad", req("POST", "/v1/join", "{\"seeds\":[1,\"a b:1\"]}")},
    {"leave", req("POST", "/v1/leave")},
    {"leave-token", req("POST", "/v1/leave", "", auth)},
    {"rejoin", req("POST", "/v1/rejoin")},
    {"tags", req("PUT", "/v1/tags", "{\"role\":\"db\",\"zone\":\"eu-1\"}")},
    {"tags-patch", req("PATCH", "/v1/tags", "{\"role\":null,\"zone\":\"eu-2\"}", json_auth)},
    {"tags-bad", req("PUT", "/v1/tags", "{\"role\":[\"db\"],\"\":\"x\"}")},
    {"metrics", req("GET", "/metrics")},
    {"faults-get", req("GET", "/v1/faults")},
    {"faults-post", req("POST", "/v1/faults", "{\"drop_rate\":0.25,\"blocked\":[\"127.0.0.1:7001\"]}")},
    {"faults-bad", req("POST", "/v1/faults", "{\"drop_rate\":2,\"other\":null}")},
    {"deep-json", req("POST", "/v1/join", std::string(40, '[') + std::string(40, ']'))},
    {"event", req("POST", "/v1/event/deploy%2Fweb?coalesce=1", "v2",
                  {{"Content-Type", "application/octet-stream"}})},
    {"event-too-large", req("POST", "/v1/event/e", std::string(600, 'p'), auth)},
    {"query", req("POST", "/v1/query/uptime?node=n.*&tag=role%3Dweb&tag=dc=eu&timeout=200ms",
                  "hi", {{"Content-Type", "application/octet-stream"}})},
    {"query-bad", req("POST", "/v1/query/q?timeout=0&tag=x", "", auth)},
    {"unknown-path", req("GET", "/v2/nothing?x=1")},
    {"options", req("OPTIONS", "/v1/kv/k", "", {{"Origin", "http://x"}})},
    // Admission rules (docs/SECURITY.md, "Admin API").
    {"host-foreign", req("GET", "/v1/self", "", {{"Host", "evil.example"}})},
    {"host-allowed", req("GET", "/v1/self", "", {{"Host", "Pekonode.Test.:7947"}})},
    {"host-localhost", req("GET", "/v1/self", "", {{"Host", "localhost:7947"}})},
    {"host-ipv6", req("GET", "/v1/self", "", {{"Host", "[::1]:7947"}})},
    {"host-twice", req("GET", "/v1/self", "", {{"Host", "127.0.0.1"}, {"Host", "evil.example"}})},
    {"host-malformed", req("GET", "/v1/self", "", {{"Host", "[::1:80"}})},
    {"origin-own", req("PUT", "/v1/kv/k", "v", {{"Host", "127.0.0.1:7947"}, {"Origin", "http://127.0.0.1:7947"}})},
    {"origin-foreign", req("GET", "/v1/kv", "", {{"Origin", "http://evil.example"}})},
    {"origin-null", req("POST", "/v1/leave", "", {{"Origin", "null"}})},
    {"token-wrong", req("DELETE", "/v1/kv/k", "", {{"Authorization", "Bearer not-the-token-0123456789"}})},
    {"token-malformed", req("PUT", "/v1/tags", "{}", {{"Authorization", "Basic dXNlcjpwdw=="}})},
    {"token-read", req("GET", "/v1/members", "", auth)},
    {"csrf-text-plain", req("POST", "/v1/leave", "x", {{"Content-Type", "text/plain; charset=UTF-8"}})},
    {"csrf-form", req("POST", "/v1/join", "seeds=a", {{"Content-Type", "application/x-www-form-urlencoded"}})},
    {"csrf-multipart-token", req("POST", "/v1/rejoin", "", {{"Content-Type", "multipart/form-data; boundary=x"}, {"Authorization", bearer}})},
  };
  for (auto& [n, r] : reqs)
    put(t, n, pekonode::fuzz::format_fuzz_request(r));
  admin_request raw;
  raw.raw = true;
  auto put_raw = [&](const char* name, std::string bytes) {
    raw.raw_bytes = std::move(bytes);
    put(t, name, pekonode::fuzz::format_fuzz_request(raw));
  };
  put_raw("raw-pipelined",
          "GET /v1/health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
          "PUT /v1/kv/a HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 3\r\n\r\nabc"
          "GET /v1/kv/a HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
  put_raw("raw-chunked",
          "PUT /v1/kv/c HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n\r\n"
          "3\r\nabc\r\n0\r\n\r\n");
  put_raw("raw-chunked-bad-size",
          "PUT /v1/kv/c HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n\r\n"
          "fffffffffffffffff\r\nabc\r\n0\r\n\r\n");
  put_raw("raw-http10-range", "GET /v1/kv/%00%ff HTTP/1.0\r\nRange: bytes=0-1\r\n\r\n");
  put_raw("raw-no-host", "GET /v1/health HTTP/1.1\r\n\r\n");
  put_raw("raw-two-lengths",
          "PUT /v1/kv/a HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 1\r\n"
          "Content-Length: 5\r\n\r\nabcde");
  put_raw("raw-length-and-chunked",
          "PUT /v1/kv/a HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 3\r\n"
          "Transfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n");
  put_raw("raw-expect-continue",
          "PUT /v1/metadata HTTP/1.1\r\nHost: 127.0.0.1\r\nExpect: 100-continue\r\n"
          "Content-Length: 4\r\n\r\nblob");
  put_raw("raw-token",
          "POST /v1/rejoin HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: " + bearer
            + "\r\nContent-Length: 0\r\n\r\n");
  put_raw("raw-cut-headers", "GET /v1/health HTTP/1.1\r\nHost: 12");
}

} // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: gen_corpus OUTPUT_DIR  (normally fuzz/corpus)\n");
    return 2;
  }
  root = argv[1];
  gen_transport();
  gen_options();
  gen_membership();
  gen_metadata();
  gen_admin();
  gen_userevents();
  std::printf("gen_corpus: wrote %zu seeds under %s\n", written, root.c_str());
  return 0;
}
