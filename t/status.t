# Licensed under the Apache License, Version 2.0 (the "License"); you may not
# use this file except in compliance with the License.  You may obtain a copy
# of the License at http://www.apache.org/licenses/LICENSE-2.0
#
# Observability: the kvcache-status handler counts exactly a known mix of
# requests served by two child processes, in JSON and in Prometheus text
# (which parses, with unique names); mod_status shows a kvcache section;
# prompts never reach the error log, even at trace8.
use strict;
use warnings FATAL => 'all';

use Apache::Test;
use Apache::TestUtil;
use lib 't/lib';
use KVCache::Test;
use KVCache::Server;

plan tests => 32;

my $secret = 'Zebracorn' . $$;
my $server = KVCache::Server->new(
    name => 'status', port => Apache::Test::vars('aux1_port'),
    conf => <<'CONF')->start;
LogLevel kvcache:trace8
KVCacheRetry 1 10ms 10ms
<Location "/kvcache-status">
    SetHandler kvcache-status
</Location>
<Location "/server-status">
    SetHandler server-status
</Location>
CONF
my @ua = ($server->client, $server->client);
my $n = 0;
my %pids;

sub send_chat {
    my ($body) = @_;
    my ($res, $seq) = $server->post($ua[$n++ % 2], '/v1/chat/completions',
                                    $body);
    $pids{$server->pid_of($seq)} = 1;
    return $res;
}
sub secret_chat { chat_body(content => "$secret " . unique_words(30)) }

emu_reset();
# 3 routed to vllm-b, 2 with nothing cached, 2 lookup errors, 1 invalid.
emu_config(lookup_override => { layout_info => {
    'vllm-b' => ['LocalCPUBackend', 16], 'vllm-a' => ['LocalCPUBackend', 8],
} });
my $repeat = secret_chat();
send_chat($repeat);
send_chat(secret_chat()) for 1 .. 2;
emu_config(lookup_override => { layout_info => {} });
send_chat(secret_chat()) for 1 .. 2;
emu_config(lookup_override => undef);
emu_fault(role => 'controller', path => '/lookup', status => 500);
send_chat(secret_chat()) for 1 .. 2;
emu('/_emu/clear_faults', {});
send_chat("{\"messages\": [\"$secret\"");
ok t_cmp(scalar(keys %pids), 2, 'the mix was served by two children');

my $res = $server->get('/kvcache-status');
ok t_cmp($res->code, 200, 'status handler answers');
ok t_cmp($res->header('Content-Type'), 'application/json', 'JSON by default');
my $doc = kv_json()->decode($res->content);
ok t_cmp($doc->{requests}{seen}, 8, 'seen');
ok t_cmp($doc->{requests}{eligible}, 7, 'eligible (all but invalid JSON)');
ok t_cmp($doc->{requests}{routed}, 3, 'routed');
ok t_cmp($doc->{fallbacks}{'lookup-empty'}, 2, 'fallback: lookup-empty');
ok t_cmp($doc->{fallbacks}{'lookup-error'}, 2, 'fallback: lookup-error');
ok t_cmp($doc->{fallbacks}{'invalid-json'}, 1, 'fallback: invalid-json');
ok t_cmp($doc->{routes}{'vllm-b'}, 3, 'per-route count');
ok t_cmp($doc->{tokens}{matched}, 48, 'matched tokens of the chosen member');
ok t_cmp($doc->{tokens}{best_matched}, 48, 'best available tokens');
ok t_cmp($doc->{tokens}{prompt} > 7 * 30 ? 1 : 0, 1,
         "prompt tokens counted ($doc->{tokens}{prompt})");
my $lookup = $doc->{upstreams}{lookup};
ok t_cmp($lookup->{calls}, 7, 'lookup calls');
ok t_cmp($lookup->{errors}, 2, 'lookup errors');
ok t_cmp($lookup->{latency_seconds}{count}, 7, 'lookup latency histogram');
ok t_cmp($lookup->{latency_seconds}{buckets}{'+Inf'}, 7, '+Inf bucket');
ok t_cmp($lookup->{breaker}, 'closed', 'lookup breaker state');
ok t_cmp($doc->{upstreams}{tokenize}{calls}, 7, 'tokenize calls');
ok t_cmp($doc->{token_cache}{misses}, 7, 'token cache misses');

# One repeat: a token cache hit, routed to vllm-b, which served it before.
send_chat($repeat);
$doc = kv_json()->decode($server->get('/kvcache-status?format=json')->content);
ok t_cmp($doc->{token_cache}{hits}, 1, 'token cache hit counted');

# Prometheus text: parse it, check names and the same numbers.
$res = $server->get('/kvcache-status', Accept => 'text/plain');
ok t_cmp($res->header('Content-Type') =~ m{^text/plain} ? 1 : 0, 1,
         'Accept: text/plain gives Prometheus text');
my ($ok, $families, $samples, $why) = parse_prometheus($res->content);
ok t_cmp($ok, 1, "Prometheus exposition parses ($why)");
ok t_cmp(scalar(grep { !/^kvcache_/ } keys %$families), 0,
         'every family is named kvcache_*');
ok t_cmp($samples->{'kvcache_requests_seen_total'}, 9, 'seen (prometheus)');
ok t_cmp($samples->{'kvcache_fallbacks_total{reason="lookup-error"}'}, 2,
         'fallbacks by reason (prometheus)');
ok t_cmp($samples->{'kvcache_upstream_duration_seconds_count{role="lookup"}'},
         8, 'histogram count (prometheus)');
ok t_cmp($samples->{'kvcache_routed_total{route="vllm-b"}'}, 4,
         'routed by route (prometheus)');
ok t_cmp($server->get('/kvcache-status?format=prometheus')->content
         =~ /^kvcache_token_cache_hits_total 1$/m ? 1 : 0, 1,
         '?format=prometheus');

# mod_status.
$res = $server->get('/server-status?auto');
ok t_cmp($res->content =~ /^KVCacheRouted: 4$/m ? 1 : 0, 1,
         'server-status?auto has a kvcache section');
ok t_cmp($server->get('/server-status')->content =~ /KV-cache routing/ ? 1 : 0,
         1, 'server-status HTML has a kvcache section');

# Never the prompt text, even at trace8; hashes and decisions only.
my $log = $server->error_log;
ok t_cmp(index($log, $secret) < 0 && $log =~ /\[kvcache\] prompt [0-9a-f]{16}/
         ? 1 : 0, 1, 'no prompt text in the trace8 log, but its hash');
$server->stop;

# A strict reader of the text exposition format: every sample belongs to a
# family declared once with # TYPE, names and labels are well-formed,
# values are numbers, and no sample repeats.
sub parse_prometheus {
    my ($text) = @_;
    my (%families, %samples);
    for my $line (split /\n/, $text) {
        if ($line =~ /^# TYPE (\S+) (counter|gauge|histogram)$/) {
            return (0, {}, {}, "family $1 declared twice") if $families{$1}++;
            next;
        }
        next if $line =~ /^# HELP \S+ .+$/;
        my ($name, $labels, $value) = $line =~
            /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(?:[a-zA-Z_]\w*="(?:[^"\\]|\\.)*",?)*\})? (\S+)$/
            or return (0, {}, {}, "bad line: $line");
        return (0, {}, {}, "bad value: $line")
            unless $value =~ /^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$|^[-+]?Inf$|^NaN$/;
        my $family = $name;
        $family =~ s/_(bucket|sum|count)$// unless $families{$name};
        return (0, {}, {}, "undeclared family of $name")
            unless $families{$family};
        my $key = $name . ($labels // '');
        return (0, {}, {}, "repeated sample $key") if exists $samples{$key};
        $samples{$key} = $value;
    }
    return (1, \%families, \%samples, scalar(keys %samples) . ' samples');
}
