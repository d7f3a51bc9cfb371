#include "engine/calendar/ics_scan.h"

#include <algorithm>

namespace kindred::calendar::internal {
namespace {

struct LogicalLine {
  std::string text;
  int line = 0;
};

std::string Snippet(std::string_view s) {
  constexpr size_t kMax = 40;
  std::string out = s.size() > kMax ? std::string(s.substr(0, kMax)) + "..." : std::string(s);
  for (char& c : out) {
    if (static_cast<unsigned char>(c) < 0x20) c = '?';
  }
  return "'" + out + "'";
}

Status LineError(int line, const std::string& msg) {
  return Status::InvalidArgument("line " + std::to_string(line) + ": " + msg);
}

bool IsNameChar(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
}

std::string Upper(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
  }
  return out;
}

// Splits a content line (RFC 5545 section 3.1) into its name and raw value;
// false if it is not one.
bool SplitContentLine(std::string_view s, std::string* name, std::string* value) {
  size_t i = 0;
  while (i < s.size() && IsNameChar(s[i])) ++i;
  if (i == 0) return false;
  *name = Upper(s.substr(0, i));
  while (i < s.size() && s[i] == ';') {  // parameters
    ++i;
    const size_t pname = i;
    while (i < s.size() && IsNameChar(s[i])) ++i;
    if (i == pname || i >= s.size() || s[i] != '=') return false;
    do {
      ++i;  // past '=' or ','
      if (i < s.size() && s[i] == '"') {
        const size_t close = s.find('"', i + 1);
        if (close == std::string_view::npos) return false;
        i = close + 1;
      } else {
        while (i < s.size() && s[i] != ';' && s[i] != ':' && s[i] != ',' && s[i] != '"') ++i;
      }
    } while (i < s.size() && s[i] == ',');
  }
  if (i >= s.size() || s[i] != ':') return false;
  *value = std::string(s.substr(i + 1));
  return true;
}

// Unfolds physical lines into logical ones, keeping the starting line number.
Result<std::vector<LogicalLine>> Unfold(std::string_view text, const ScanLimits& limits) {
  std::vector<LogicalLine> out;
  int line_no = 0;
  size_t pos = 0;
  while (pos < text.size()) {
    ++line_no;
    size_t nl = text.find('\n', pos);
    if (nl == std::string_view::npos) nl = text.size();
    std::string_view line = text.substr(pos, nl - pos);
    pos = nl + 1;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.find('\0') != std::string_view::npos) {
      return LineError(line_no, "contains a NUL byte; this is not an iCalendar text file");
    }
    if (line.empty()) continue;  // not allowed by RFC 5545, but harmless
    if (line[0] == ' ' || line[0] == '\t') {
      if (out.empty()) return LineError(line_no, "a folded continuation line starts the file");
      out.back().text.append(line.substr(1));
    } else {
      out.push_back({std::string(line), line_no});
    }
    if (out.back().text.size() > limits.max_line_bytes) {
      return LineError(out.back().line, "a content line is longer than " +
                                            std::to_string(limits.max_line_bytes) + " bytes");
    }
  }
  return out;
}

}  // namespace

const ScannedProperty* ScannedComponent::Find(std::string_view name) const {
  auto it = std::find_if(properties.begin(), properties.end(),
                         [&](const ScannedProperty& p) { return p.name == name; });
  return it == properties.end() ? nullptr : &*it;
}

Result<std::vector<ScannedComponent>> ScanIcs(std::string_view text, const ScanLimits& limits) {
  if (text.size() > limits.max_bytes) {
    return Status::InvalidArgument("iCalendar input is " + std::to_string(text.size()) +
                                   " bytes; the limit is " + std::to_string(limits.max_bytes) +
                                   " bytes");
  }
  KINDRED_ASSIGN_OR_RETURN(std::vector<LogicalLine> lines, Unfold(text, limits));
  if (lines.empty()) return Status::InvalidArgument("iCalendar input is empty");

  std::vector<ScannedComponent> roots;
  std::vector<ScannedComponent> stack;  // open components, innermost last
  size_t components = 0;
  for (size_t i = 0; i < lines.size(); ++i) {
    const LogicalLine& l = lines[i];
    std::string name, value;
    if (!SplitContentLine(l.text, &name, &value)) {
      if (i + 1 == lines.size() && !stack.empty()) {
        return LineError(l.line, "the file is truncated: " + Snippet(l.text) +
                                     " is not a complete content line and " + stack.back().name +
                                     " (line " + std::to_string(stack.back().begin_line) +
                                     ") is never closed");
      }
      return LineError(l.line, "not an iCalendar content line (NAME:VALUE): " + Snippet(l.text));
    }
    if (name == "BEGIN") {
      std::string comp = Upper(value);
      if (stack.empty() && comp != "VCALENDAR") {
        return LineError(l.line, "expected BEGIN:VCALENDAR, found BEGIN:" + comp);
      }
      if (stack.size() >= limits.max_depth) {
        return LineError(l.line, "components are nested more than " +
                                     std::to_string(limits.max_depth) + " deep");
      }
      if (++components > limits.max_components) {
        return LineError(l.line,
                         "more than " + std::to_string(limits.max_components) + " components");
      }
      ScannedComponent c;
      c.name = std::move(comp);
      c.begin_line = l.line;
      stack.push_back(std::move(c));
    } else if (name == "END") {
      std::string comp = Upper(value);
      if (stack.empty()) return LineError(l.line, "END:" + comp + " without a matching BEGIN");
      if (stack.back().name != comp) {
        return LineError(l.line, "END:" + comp + " does not match BEGIN:" + stack.back().name +
                                     " at line " + std::to_string(stack.back().begin_line));
      }
      ScannedComponent done = std::move(stack.back());
      stack.pop_back();
      if (stack.empty()) {
        roots.push_back(std::move(done));
      } else {
        stack.back().children.push_back(std::move(done));
      }
    } else {
      if (stack.empty()) {
        return LineError(l.line, "expected BEGIN:VCALENDAR, found " + Snippet(l.text));
      }
      stack.back().properties.push_back({std::move(name), std::move(value), l.line});
    }
  }
  if (!stack.empty()) {
    return LineError(lines.back().line,
                     "the file ends inside " + stack.back().name + " begun at line " +
                         std::to_string(stack.back().begin_line) + " (truncated?)");
  }
  return roots;
}

}  // namespace kindred::calendar::internal
