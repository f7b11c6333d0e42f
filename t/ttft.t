# Licensed under the Apache License, Version 2.0 (the "License"); you may not
# use this file except in compliance with the License.  You may obtain a copy
# of the License at http://www.apache.org/licenses/LICENSE-2.0

# KVCachePolicy ttft, the default: the engines' own queue signal moves a
# request off the member that holds its prefix when that member's prefill
# queue is long, and keeps it there when the member is only decoding.  The
# cached tokens the engine reports in its answer (plain and streamed) are
# read as the answer passes, byte for byte unchanged, and counted against
# the prediction.  KVCacheSessionHeader keeps a session on its member.
use strict;
use warnings FATAL => 'all';

use Apache::Test;
use Apache::TestUtil;
use Digest::SHA qw(sha256_hex);
use LWP::UserAgent ();
use Time::HiRes qw(sleep time);
use lib 't/lib';
use KVCache::Test;
use KVCache::Server;

plan tests => 22;

my $vars = Apache::Test::vars();
my $name = 'ttft';
my $found_log = "$vars->{t_logs}/server-$name/found_log";
my $server = KVCache::Server->new(
    name => $name, port => Apache::Test::vars('aux1_port'),
    conf => <<"CONF")->start;
KVCacheScrapeInterval 100ms
LogFormat "%{X-Test-Seq}i %{KVCACHE_FOUND_TOKENS}e" found
CustomLog "$found_log" found
<Location "/session/v1/">
    ProxyPass "balancer://llm/v1/"
    KVCacheEnable On
    KVCacheSessionHeader X-Session-Id
</Location>
<Location "/kvcache-status">
    SetHandler kvcache-status
</Location>
CONF
my $ua = $server->client;

sub status { kv_json()->decode($server->get('/kvcache-status')->content) }

# A conversation of @_ (2,000) words that vllm-b already holds.
sub held_by_b {
    my ($words) = @_;
    my %conv = (model => 'demo-model', messages => [
        { role => 'user', content => unique_words($words // 2000) } ]);
    emu_seed(instance => 'vllm-b', body => \%conv);
    return \%conv;
}

# Waits until the scraper has seen vllm-b's overridden queue.
sub scraped_b {
    my ($waiting, $running) = @_;
    emu_instance(id => 'vllm-b', waiting => $waiting, running => $running);
    my $deadline = time + 5;
    while (time < $deadline) {
        my $e = status()->{engines}{'vllm-b'};
        return 1 if $e && $e->{waiting} == $waiting && $e->{running} == $running;
        sleep 0.05;
    }
    return 0;
}

sub route {
    my ($path, $body, @headers) = @_;
    my ($res) = $server->post($ua, $path, kv_json()->encode($body), @headers);
    return $res;
}

emu_reset();

# Busy decoding only: 32 requests of another gateway running (a batch of
# the usual size), none waiting.  Decoding shares the engine's steps, but
# computing the 8,000 tokens it holds again elsewhere would cost more.
ok t_cmp(scraped_b(0, 32), 1, 'vllm-b scraped: 32 running, none waiting');
my $res = route('/v1/chat/completions', held_by_b(8000));
ok t_cmp(KVCache::Test::decision_of($res), 'routed', 'decoding only: routed');
ok t_cmp(served_by($res), 'vllm-b', '... to the member holding the prefix');

# A long prefill queue: 40 requests waiting, of the size vllm-b's own
# counters say its requests have (3,000 tokens computed each, from three
# sent to it directly).  Prefilling the prompt elsewhere beats waiting
# behind them.
for (1 .. 3) {
    my $direct = LWP::UserAgent->new(timeout => 30)->post(
        "http://127.0.0.1:$vars->{emu_b_port}/v1/chat/completions",
        'Content-Type' => 'application/json',
        Content => chat_body(content => unique_words(3000)));
    die 'direct request to vllm-b: ' . $direct->status_line
        unless $direct->is_success;
}
ok t_cmp(scraped_b(40, 4), 1, 'vllm-b scraped: 40 waiting');
$res = route('/v1/chat/completions', held_by_b());
ok t_cmp(KVCache::Test::decision_of($res), 'routed', 'long queue: routed');
ok t_cmp(served_by($res) ne 'vllm-b' ? 1 : 0, 1,
         'long queue: away from the holder (' . served_by($res) . ')');
my $e = status()->{engines}{'vllm-b'};
ok t_cmp($e->{backlog_tokens} > 2000 ? 1 : 0, 1,
         "the queue counts as prefill work ($e->{backlog_tokens} tokens)");
emu_instance(id => 'vllm-b', waiting => undef, running => undef);
ok t_cmp(scraped_b(0, 0), 1, 'vllm-b idle again');

# What the engine found, plain and streamed: counted, logged, and the
# answer passes unchanged.
my $before = status()->{answers};
my $conv = held_by_b();
my ($plain, $seq_plain) = $server->post($ua, '/v1/chat/completions',
                                        kv_json()->encode($conv));
ok t_cmp(served_by($plain), 'vllm-b', 'plain answer from the holder');
ok t_cmp(sha256_hex($plain->content), $plain->header('X-Kvemu-Answer-Sha256'),
         'plain answer: byte for byte what the engine sent');
my %streamed = (%{ held_by_b() }, stream => JSON::PP::true(),
                stream_options => { include_usage => JSON::PP::true() });
my ($stream, $seq_stream) = $server->post($ua, '/v1/chat/completions',
                                          kv_json()->encode(\%streamed));
ok t_cmp($stream->header('Content-Type') =~ m{text/event-stream} ? 1 : 0, 1,
         'streamed answer');
ok t_cmp(sha256_hex($stream->content),
         $stream->header('X-Kvemu-Answer-Sha256'),
         'streamed answer: byte for byte what the engine sent');
my $after = status()->{answers};
my $found = $plain->header('X-Kvemu-Cached-Tokens')
            + $stream->header('X-Kvemu-Cached-Tokens');
ok t_cmp($after->{counted} - $before->{counted}, 2, 'both answers counted');
ok t_cmp($after->{found_cached_tokens} - $before->{found_cached_tokens}, $found,
         "found = what the engine reported ($found)");
ok t_cmp($after->{predicted_cached_tokens}
             - $before->{predicted_cached_tokens} > 0 ? 1 : 0, 1,
         'and predicted for them');
my %logged;
my $deadline = time + 3;
while (time < $deadline && keys(%logged) < 2) {
    open my $fh, '<', $found_log or last;
    %logged = map { split ' ' } grep { /^\d+ \d+$/ } <$fh>;
    sleep 0.05;
}
ok t_cmp($logged{$seq_plain}, $plain->header('X-Kvemu-Cached-Tokens'),
         'KVCACHE_FOUND_TOKENS of the plain answer');
ok t_cmp($logged{$seq_stream}, $stream->header('X-Kvemu-Cached-Tokens'),
         'KVCACHE_FOUND_TOKENS of the streamed answer');

# Sessions: a session's first turn goes to the holder of its prompt
# (vllm-c); with the controller failing, its next turn still goes there,
# where another request would go to the fallback's pick.
my %turn1 = (model => 'demo-model', messages => [
    { role => 'user', content => unique_words(500) } ]);
emu_seed(instance => 'vllm-c', body => \%turn1);
$res = route('/session/v1/chat/completions', \%turn1, 'X-Session-Id' => 'agent-7');
ok t_cmp(served_by($res), 'vllm-c', 'session: first turn at the holder');
emu_fault(role => 'controller', path => '/lookup', status => 500);
my %turn2 = (model => 'demo-model', messages => [
    @{ $turn1{messages} }, { role => 'assistant', content => 'ok' },
    { role => 'user', content => unique_words(50) } ]);
$res = route('/session/v1/chat/completions', \%turn2, 'X-Session-Id' => 'agent-7');
ok t_cmp(KVCache::Test::decision_of($res), 'fallback:lookup-error',
         'session: the controller is down');
ok t_cmp(served_by($res), 'vllm-c', '... and the turn stays on its member');
$res = route('/session/v1/chat/completions', \%turn2);
ok t_cmp(served_by($res) ne 'vllm-c' ? 1 : 0, 1,
         'without the session header, the fallback chooses ('
         . served_by($res) . ')');
emu('/_emu/clear_faults', {});
ok t_cmp(status()->{sessions} >= 1 ? 1 : 0, 1, 'the session is remembered');
$server->stop;
