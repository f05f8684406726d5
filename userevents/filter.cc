#include "userevents/filter.h"

#include <re2/re2.h>

namespace pekonode::userevents {

namespace {

/// RE2 with a memory cap: a hostile pattern fails to compile instead of
/// growing a large automaton.
std::unique_ptr<re2::RE2> make_re(const std::string& pattern,
                                  std::string& why) {
  RE2::Options opts;
  opts.set_log_errors(false);
  opts.set_max_mem(1 << 20);
  auto re = std::make_unique<re2::RE2>(pattern, opts);
  if (!re->ok()) {
    why = re->error();
    return nullptr;
  }
  return re;
}

} // namespace

filter::filter() = default;
filter::~filter() = default;
filter::filter(filter&&) noexcept = default;
filter& filter::operator=(filter&&) noexcept = default;

bool filter::compile(const std::string& node, const tag_filters& tags,
                     std::string& why) {
  node_.reset();
  tags_.clear();
  size_t bytes = node.size();
  for (auto& [k, v] : tags)
    bytes += k.size() + v.size();
  if (bytes > max_filter_bytes) {
    why = "filters are " + std::to_string(bytes) + " bytes, limit "
          + std::to_string(max_filter_bytes);
    return false;
  }
  if (tags.size() > max_tag_filters) {
    why = std::to_string(tags.size()) + " tag filters, limit "
          + std::to_string(max_tag_filters);
    return false;
  }
  if (!node.empty()) {
    std::string err;
    node_ = make_re(node, err);
    if (!node_) {
      why = "node pattern: " + err;
      return false;
    }
  }
  for (auto& [k, v] : tags) {
    if (k.empty()) {
      why = "tag filter with an empty key";
      return false;
    }
    std::string err;
    auto re = make_re(v, err);
    if (!re) {
      why = "tag pattern for '" + k + "': " + err;
      return false;
    }
    tags_.emplace_back(k, std::move(re));
  }
  return true;
}

bool filter::matches(const std::string& name,
                     const std::map<std::string, std::string>& tags) const {
  if (node_ && !re2::RE2::FullMatch(name, *node_))
    return false;
  for (auto& [k, re] : tags_) {
    auto i = tags.find(k);
    if (i == tags.end() || !re2::RE2::FullMatch(i->second, *re))
      return false;
  }
  return true;
}

} // namespace pekonode::userevents
