# Licensed under the Apache License, Version 2.0 (the "License"); you may not
# use this file except in compliance with the License.  You may obtain a copy
# of the License at http://www.apache.org/licenses/LICENSE-2.0
#
# A fleet shares tokenized prompts through an existing cache server: two
# separate httpd instances, one redis-server (KVCacheTokenCacheStore redis).
use strict;
use warnings FATAL => 'all';

use Apache::Test;
use Apache::TestUtil;
use IO::Socket::INET ();
use POSIX ();
use Time::HiRes qw(sleep time);
use lib 't/lib';
use KVCache::Test;
use KVCache::Server;

plan tests => 4;

my $vars = Apache::Test::vars();
my $port = $vars->{redis_port};
my $redis = fork();
die "fork: $!" unless defined $redis;
if (!$redis) {
    open STDOUT, '>', "$vars->{t_logs}/redis.out";
    open STDERR, '>&', \*STDOUT;
    exec '/usr/bin/redis-server', '--port', $port, '--bind', '127.0.0.1',
         '--save', '', '--appendonly', 'no', '--dir', $vars->{t_logs}
        or POSIX::_exit(127);
}
END { if ($redis) { kill 'TERM', $redis; waitpid $redis, 0 } }
my $deadline = time + 10;
sleep 0.05 until IO::Socket::INET->new(PeerAddr => "127.0.0.1:$port")
                 || time > $deadline;

my $store = "KVCacheTokenCacheStore redis:127.0.0.1:$port\n";
my $one = KVCache::Server->new(name => 'redis1', port => $vars->{aux1_port},
                               conf => $store)->start;
my $two = KVCache::Server->new(name => 'redis2', port => $vars->{aux2_port},
                               conf => $store)->start;

emu_reset();
my $body = chat_body(content => unique_words(40));
my ($res) = $one->post($one->client, '/v1/chat/completions', $body);
ok t_cmp($res->code, 200, 'first httpd served the request');
ok t_cmp(emu_calls('vllm-a', '/tokenize'), 1, 'and tokenized it');
($res) = $two->post($two->client, '/v1/chat/completions', $body);
ok t_cmp($res->code, 200, 'second httpd served the same prompt');
ok t_cmp(emu_calls('vllm-a', '/tokenize'), 1,
         'with the tokens the first one stored in redis');
$one->stop;
$two->stop;
