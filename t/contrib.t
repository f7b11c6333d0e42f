# Licensed under the Apache License, Version 2.0 (the "License"); you may not
# use this file except in compliance with the License.  You may obtain a copy
# of the License at http://www.apache.org/licenses/LICENSE-2.0
#
# The Grafana dashboards (contrib/grafana/*.json) and the Prometheus files
# (contrib/prometheus/*.yml) against the module as it runs: every series an
# expression, a template variable, a rule test or a description names must
# be one a live httpd with mod_kvcache exports (families from its # TYPE
# lines, histograms as _bucket/_sum/_count), with labels and label values it
# exports; counters are read only through rate(), irate() or increase().
# Every file and every panel found is checked, so new ones need no change
# here.  promtool checks the rules, runs their unit tests and checks the
# example configuration; every alert must have a unit test.
use strict;
use warnings FATAL => 'all';

use Apache::Test;
use Apache::TestUtil;
use JSON::PP ();
use YAML::XS ();
use lib 't/lib';
use KVCache::Test;
use KVCache::Server;

my $top = Apache::Test::vars('kvc_top');
my @results;    # [ok, name, diagnostics]

sub result {
    my ($name, @problems) = @_;
    push @results, [!@problems, $name, join "\n", @problems];
}

# Labels Prometheus itself attaches to every scraped series, and the series
# it records for every target.
my %target_labels = map { $_ => 1 } qw(job instance);
my %synthesized = (up => { job => {}, instance => {} });
my %counter_functions = map { $_ => 1 } qw(rate irate increase);

# --- The exposition, from a server that has routed one request.
my $server = KVCache::Server->new(
    name => 'contrib', port => Apache::Test::vars('aux1_port'),
    conf => <<'CONF')->start;
<Location "/kvcache-status">
    SetHandler kvcache-status
</Location>
CONF
emu_reset();
my $body = chat_body(content => unique_words(64, 'contrib'));
emu_seed(instance => 'vllm-b', body => kv_json()->decode($body));
my ($answer) = $server->post($server->client, '/v1/chat/completions', $body);
my $routed = decision_of($answer);
my $exposition = $server->get('/kvcache-status?format=prometheus')->content;
$server->stop;
{
    my $file = Apache::Test::vars('t_logs') . '/contrib-exposition.txt';
    open my $fh, '>', $file or die "$file: $!";
    print $fh $exposition;
}

# %series: name => { label => { value => 1 } }; %type: name => type;
# %sampled: the names with at least one sample.
my (%series, %type, %family, %sampled);
for my $line (split /\n/, $exposition) {
    if (my ($fam, $kind) = $line =~ /^# TYPE (\S+) (\S+)$/) {
        $family{$fam} = $kind;
        # A histogram's buckets, sum and count are counters.
        my %names = $kind eq 'histogram'
            ? map { ("$fam$_" => 'counter') } qw(_bucket _sum _count)
            : ($fam => $kind);
        while (my ($name, $t) = each %names) {
            $series{$name} //= {};
            $type{$name} = $t;
        }
        next;
    }
    next if $line =~ /^#/ || $line !~ /\S/;
    my ($name, $labels) = $line =~ /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? \S+$/
        or next;
    $sampled{$name} = 1;
    while (($labels // '') =~ /(\w+)="((?:[^"\\]|\\.)*)"/g) {
        $series{$name}{$1}{$2} = 1;
    }
}
result("the exposition names its families (" . scalar(keys %family) . ')',
       keys %family ? () : 'no # TYPE line in the exposition');
result('the request used to fill the labels was routed',
       $routed eq 'routed' ? () : "X-KVCache-Decision: '$routed'");
my %known = (%series, %synthesized);
my %unsampled;

# --- A PromQL reader: enough of the grammar to find every selector, its
# matchers, the function it is an argument of, and the labels that by,
# without, on, ignoring and group_left/right name.
sub promql_tokens {
    my ($expr) = @_;
    my @tokens;
    pos($expr) = 0;
    while (pos($expr) < length $expr) {
        if ($expr =~ /\G\s+/gc || $expr =~ /\G#[^\n]*/gc) { next }
        if ($expr =~ /\G("(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`)/gc) {
            push @tokens, [str => substr $1, 1, -1];
        }
        elsif ($expr =~ /\G(=~|!~|!=|==|>=|<=|=|<|>)/gc) { push @tokens, [op => $1] }
        elsif ($expr =~ /\G([a-zA-Z_:][\w:]*)/gc) { push @tokens, [id => $1] }
        elsif ($expr =~ /\G(\$\{?\w+\}?)/gc) { push @tokens, [var => $1] }
        elsif ($expr =~ /\G((?:\d[\d.]*(?:[eE][-+]?\d+)?[a-zA-Z]*)+)/gc) {
            push @tokens, [num => $1];
        }
        elsif ($expr =~ /\G([(){}\[\],+\-*\/%^@])/gc) { push @tokens, [p => $1] }
        else {
            return (undef, "cannot read PromQL at '"
                           . substr($expr, pos($expr), 20) . "'");
        }
    }
    return \@tokens;
}

my %label_clause = map { $_ => 1 } qw(by without on ignoring group_left group_right);
my %keyword = (%label_clause, map { $_ => 1 } qw(bool and or unless offset));

# Returns ({selectors => [{metric, matchers => [[label, op, value]],
# function}], labels => [...]}, undef) or (undef, why).
sub promql_refs {
    my ($expr) = @_;
    my ($tokens, $why) = promql_tokens($expr);
    return (undef, $why) unless $tokens;
    my (@stack, @selectors, @labels, $aggregator);
    my $is = sub { my ($i, $t, $v) = @_;
                   $tokens->[$i] && $tokens->[$i][0] eq $t
                       && (!defined $v || $tokens->[$i][1] eq $v) };
    for (my $i = 0; $i < @$tokens; $i++) {
        my ($t, $v) = @{ $tokens->[$i] };
        if ($t eq 'p' && $v eq '[') {    # a range or subquery duration
            $i++ while $i < @$tokens && !$is->($i, p => ']');
            next;
        }
        if ($t eq 'p' && $v eq '(') { push @stack, $aggregator // ''; $aggregator = undef; next }
        if ($t eq 'p' && $v eq ')') { pop @stack; next }
        if ($t eq 'p' && $v eq '{') {
            return (undef, 'a selector without a metric name');
        }
        next unless $t eq 'id';
        if ($keyword{$v}) {
            next unless $label_clause{$v} && $is->($i + 1, p => '(');
            for ($i += 2; $i < @$tokens && !$is->($i, p => ')'); $i++) {
                push @labels, $tokens->[$i][1] if $tokens->[$i][0] eq 'id';
            }
            next;
        }
        if ($is->($i + 1, p => '(')) { push @stack, $v; $i++; next }
        if ($is->($i + 1, id => 'by') || $is->($i + 1, id => 'without')) {
            $aggregator = $v;    # its argument comes after the label list
            next;
        }
        # The function this selector is an argument of ('' for none).
        my %selector = (metric => $v, matchers => [],
                        function => @stack ? $stack[-1] : '');
        if ($is->($i + 1, p => '{')) {
            for ($i += 2; $i < @$tokens && !$is->($i, p => '}'); $i++) {
                next if $is->($i, p => ',');
                return (undef, "bad matcher in the selector of $v")
                    unless $is->($i, 'id') && $is->($i + 1, 'op')
                           && $is->($i + 2, 'str');
                push @{ $selector{matchers} },
                    [map { $tokens->[$_][1] } $i .. $i + 2];
                $i += 2;
            }
        }
        push @selectors, \%selector;
    }
    return ({ selectors => \@selectors, labels => \@labels }, undef);
}

# A value matcher's literal alternatives, or () when it is a real regular
# expression or names a template variable.
sub literal_values {
    my ($op, $value) = @_;
    return () if $value =~ /\$/;
    return ($value) if $op eq '=' || $op eq '!=';
    return () unless $value =~ /^[\w.+-]+(?:\|[\w.+-]+)*$/;
    return split /\|/, $value;
}

# The problems of one selector: its series, its matchers' labels and
# values, and how a counter is read.
sub selector_problems {
    my ($sel, $counters_need_rate, $fixture) = @_;
    my $name = $sel->{metric};
    my $labels = $known{$name};
    return ("$name is not exported by mod_kvcache"
            . ($family{$name} && $family{$name} eq 'histogram'
               ? ' (a histogram: name its _bucket, _sum or _count)' : ''))
        unless $labels;
    my @problems;
    # A family without samples yet (one filled in by events this server
    # did not see): its labels cannot be checked here.
    my $unsampled = $series{$name} && !$sampled{$name};
    $unsampled{$name} = 1 if $unsampled;
    for my $m ($unsampled ? () : @{ $sel->{matchers} }) {
        my ($label, $op, $value) = @$m;
        next if $target_labels{$label};
        if (!$labels->{$label}) {
            push @problems, "$name has no label $label";
            next;
        }
        # A rule test's input series invents its own members: only the
        # label's name must be real there.
        for my $v ($fixture ? () : literal_values($op, $value)) {
            push @problems, "$name\{$label} never has the value '$v' (it has: "
                . join(', ', sort keys %{ $labels->{$label} }) . ')'
                unless $labels->{$label}{$v};
        }
    }
    push @problems, "$name is a counter: read it through rate(), irate() or "
        . "increase(), not " . ($sel->{function} ? "$sel->{function}()" : 'as is')
        if $counters_need_rate && ($type{$name} // '') eq 'counter'
           && !$counter_functions{ $sel->{function} };
    return @problems;
}

# All problems of one PromQL expression; $series_only: a bare selector that
# is not evaluated (label_values), where counters need no rate().
sub expression_problems {
    my ($expr, $series_only) = @_;
    my ($refs, $why) = promql_refs($expr);
    return ($why) unless $refs;
    return ('names no metric') unless @{ $refs->{selectors} };
    my @problems = map { selector_problems($_, !$series_only) }
        @{ $refs->{selectors} };
    my %in_scope = %target_labels;
    for my $sel (@{ $refs->{selectors} }) {
        return @problems if $unsampled{ $sel->{metric} };
        $in_scope{$_} = 1 for keys %{ $known{ $sel->{metric} } // {} };
    }
    push @problems, map { "label $_ is on none of the series it aggregates" }
        grep { !$in_scope{$_} } @{ $refs->{labels} };
    return @problems;
}

# Metric names quoted in prose (descriptions, annotations).
sub prose_problems {
    my ($text) = @_;
    return map { "the text names $_, which is not exported" }
        grep { !$known{$_} && !$family{$_} } $text =~ /\b(kvcache_\w+)/g;
}

# --- Grafana dashboards.
my @dashboards = sort glob "$top/contrib/grafana/*.json";
result('contrib/grafana has dashboards', @dashboards ? () : 'none found');
my %on_dashboards;
for my $file (@dashboards) {
    (my $short = $file) =~ s{^\Q$top\E/}{};
    my $text = do { local $/; open my $fh, '<', $file or die "$file: $!"; <$fh> };
    my $dash = eval { JSON::PP->new->decode($text) };
    result("$short parses as JSON", $dash ? () : "$@");
    next unless $dash;
    my @problems;
    push @problems, "no $_" for grep { !defined $dash->{$_} } qw(uid title schemaVersion panels);
    my @variables = @{ $dash->{templating}{list} // [] };
    push @problems, 'no datasource variable of type prometheus'
        unless grep { $_->{type} eq 'datasource' && $_->{name} eq 'datasource'
                      && $_->{query} eq 'prometheus' } @variables;
    result("$short: uid, title, schema, a Prometheus data source variable", @problems);

    for my $var (grep { $_->{type} eq 'query' } @variables) {
        my $query = ref $var->{query} ? $var->{query}{query} : $var->{query};
        my @p;
        if ($query =~ /^\s*label_values\((.+),\s*(\w+)\s*\)\s*$/) {
            my ($selector, $label) = ($1, $2);
            @p = expression_problems($selector, 1);
            my ($refs) = promql_refs($selector);
            push @p, "label $label is not on $selector"
                if $refs && @{ $refs->{selectors} } && !$target_labels{$label}
                   && !$known{ $refs->{selectors}[0]{metric} }{$label};
        }
        else {
            @p = ("an unsupported variable query '$query' (only label_values(selector, label))");
        }
        push @p, 'its data source is not ${datasource}'
            unless ($var->{datasource}{uid} // '') eq '${datasource}';
        result("$short: variable \$$var->{name}", @p);
    }

    my (@panels, %ids);
    my @todo = @{ $dash->{panels} // [] };
    while (my $panel = shift @todo) {
        push @todo, @{ $panel->{panels} // [] };
        push @panels, $panel;
    }
    my @boxes;
    for my $panel (@panels) {
        my $name = "$short: panel '" . ($panel->{title} // '?') . "'";
        my @p;
        push @p, 'no id' unless defined $panel->{id};
        push @p, "id $panel->{id} is used twice" if defined $panel->{id} && $ids{ $panel->{id} }++;
        my $g = $panel->{gridPos} // {};
        if (grep { !defined $g->{$_} || $g->{$_} !~ /^\d+$/ } qw(h w x y)) {
            push @p, 'gridPos needs integer h, w, x, y';
        }
        else {
            push @p, 'wider than the 24-column grid' if $g->{x} + $g->{w} > 24;
            for my $b (@boxes) {
                push @p, "overlaps panel '$b->[4]'"
                    if $g->{x} < $b->[0] + $b->[2] && $b->[0] < $g->{x} + $g->{w}
                       && $g->{y} < $b->[1] + $b->[3] && $b->[1] < $g->{y} + $g->{h};
            }
            push @boxes, [@$g{qw(x y w h)}, $panel->{title} // '?'];
        }
        if (($panel->{type} // '') eq 'row') {
            result("$name (row)", @p);
            next;
        }
        push @p, 'no title' unless $panel->{title};
        push @p, prose_problems($panel->{description} // '');
        my @targets = @{ $panel->{targets} // [] };
        push @p, 'no query' unless @targets;
        push @p, 'its data source is not ${datasource}'
            unless ($panel->{datasource}{uid} // '') eq '${datasource}';
        my %refids;
        for my $target (@targets) {
            my $ref = $target->{refId} // '?';
            push @p, "query $ref: refId used twice" if $refids{$ref}++;
            push @p, "query $ref: its data source is not \${datasource}"
                if $target->{datasource}
                   && ($target->{datasource}{uid} // '') ne '${datasource}';
            if (!$target->{expr}) {
                push @p, "query $ref: no expr";
                next;
            }
            push @p, map { "query $ref: $_" } expression_problems($target->{expr});
            my ($refs) = promql_refs($target->{expr});
            $on_dashboards{ $_->{metric} } = 1 for @{ $refs ? $refs->{selectors} : [] };
        }
        result($name, @p);
    }
}

# --- Prometheus rules, their unit tests, the example configuration.
my ($promtool) = grep { -x } map { "$_/promtool" } split /:/, $ENV{PATH};
result('promtool is installed (tools/install-deps.sh: prometheus)',
       $promtool ? () : 'promtool not found');
sub promtool {
    my ($what, @args) = @_;
    return ('promtool missing') unless $promtool;
    my $out = `cd '$top/contrib/prometheus' && '$promtool' @args 2>&1`;
    return $? == 0 ? () : ("promtool @args failed:\n$out");
}

# Prometheus' own lint of the exposition (names, suffixes, help texts).
{
    my $file = Apache::Test::vars('t_logs') . '/contrib-exposition.txt';
    my $out = $promtool ? `'$promtool' check metrics < '$file' 2>&1` : '';
    result('promtool check metrics: the exposition passes the lint',
           !$promtool ? 'promtool missing' : $? ? $out : ());
}

my @yaml = sort glob "$top/contrib/prometheus/*.yml";
result('contrib/prometheus has files', @yaml ? () : 'none found');
my (%alerts, %tested);
for my $file (@yaml) {
    (my $short = $file) =~ s{^\Q$top\E/}{};
    (my $base = $file) =~ s{.*/}{};
    my $doc = eval { YAML::XS::LoadFile($file) };
    result("$short parses as YAML", $doc ? () : "$@");
    next unless ref $doc eq 'HASH';
    if ($doc->{groups}) {
        result("$short: promtool check rules", promtool($short, 'check', 'rules', $base));
        for my $rule (map { @{ $_->{rules} // [] } } @{ $doc->{groups} }) {
            my $name = $rule->{alert} // $rule->{record} // '?';
            my @p = expression_problems($rule->{expr} // '');
            if ($rule->{alert}) {
                $alerts{$name} = $short;
                push @p, 'severity is not critical, warning or info'
                    unless ($rule->{labels}{severity} // '') =~ /^(critical|warning|info)$/;
                push @p, "no $_ annotation"
                    for grep { !$rule->{annotations}{$_} } qw(summary description);
                push @p, prose_problems(join ' ', values %{ $rule->{annotations} // {} });
            }
            result("$short: rule $name", @p);
        }
    }
    elsif ($doc->{tests}) {
        result("$short: promtool test rules", promtool($short, 'test', 'rules', $base));
        for my $test (@{ $doc->{tests} }) {
            $tested{ $_->{alertname} } = 1 for @{ $test->{alert_rule_test} // [] };
            for my $input (@{ $test->{input_series} // [] }) {
                my ($refs, $why) = promql_refs($input->{series} // '');
                my @p = $refs ? map { selector_problems($_, 0, 1) } @{ $refs->{selectors} }
                              : ($why);
                result("$short: input series $input->{series}", @p);
            }
        }
    }
    elsif ($doc->{scrape_configs}) {
        result("$short: promtool check config", promtool($short, 'check', 'config', $base));
    }
    else {
        result("$short: a rule file, a rule test or a configuration",
               'none of groups, tests, scrape_configs');
    }
}
result('every alert has a unit test',
       map { "$_ ($alerts{$_}) is in no alert_rule_test" } grep { !$tested{$_} } sort keys %alerts);

plan tests => scalar @results;
for my $r (@results) {
    ok t_cmp($r->[0] ? 1 : 0, 1, $r->[1]);
    print STDERR "# $r->[1]:\n# " . join("\n# ", split /\n/, $r->[2]) . "\n"
        unless $r->[0];
}
print "# no samples, labels not checked: @{[sort keys %unsampled]}\n" if %unsampled;
# Not a failure: families added since the dashboards were last updated.
my @unshown = grep { !$on_dashboards{$_} && !$on_dashboards{"${_}_bucket"} } sort keys %family;
print "# on no dashboard: @unshown\n" if @unshown;
